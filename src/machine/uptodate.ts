/**
 * Whether an existing machine is what a build would make now, so that
 * running the container graph again with the same name is a fast no-op
 * instead of an "already exists" failure. Same recipe hash + same package
 * set of the release's publication (its index digest, which a date-only
 * republish keeps) = same machine; anything else is refused rather than
 * replaced, since the machine may hold work.
 *
 * A new publication of an update suite (-updates, -security) does not make
 * a machine stale: it is the same machine with pending upgrades, which
 * `list` counts and `nspawn-kit upgrade` installs in place. Only new
 * machines get a base brought up to date first (machine/base-build.ts).
 */
import type { Recipe } from '../config/types.js';
import { exists } from '../shell.js';
import { inReleasePath, readPublication } from '../rootfs/base-cache.js';
import { recordRoot, resolveMachine } from './handle.js';
import type { MachineContext } from './create.js';
import type { Provenance } from './paths.js';
import { readFirstBootResult, readProvenance } from './provenance.js';

export type MachineState =
  | { state: 'absent' }
  /** Same recipe and package set, first boot succeeded: nothing to do. */
  | { state: 'current'; reason: string; provenance: Provenance }
  /** Same recipe and package set, first boot not run yet: only provisioning is left. */
  | { state: 'unprovisioned'; reason: string; provenance: Provenance }
  /** Exists but differs (or cannot be told apart): the caller refuses. */
  | { state: 'stale'; why: string; provenance?: Provenance };

function builtOn(p: Provenance): string {
  return p.builtAt.replace(/\.\d+Z$/, 'Z');
}

export async function machineState(ctx: MachineContext, recipe: Recipe, name: string): Promise<MachineState> {
  let handle;
  try {
    handle = await resolveMachine(ctx.config, name);
  } catch (err) {
    return { state: 'stale', why: `its overlay record cannot be read (${err instanceof Error ? err.message : String(err)})` };
  }
  if (!(await exists(handle.root)) && handle.storage.kind !== 'overlay') return { state: 'absent' };
  // Records are read without mounting: from an unmounted overlay machine's upper directory.
  const root = await recordRoot(handle);
  let provenance: Provenance | undefined;
  try {
    provenance = await readProvenance(root);
  } catch (err) {
    return { state: 'stale', why: `its provenance record cannot be read (${err instanceof Error ? err.message : String(err)})` };
  }
  if (!provenance) return { state: 'stale', why: 'it has no provenance record (not built by nspawn-kit, or its build was interrupted)' };
  const built = builtOn(provenance);
  if (provenance.recipe !== recipe.name) return { state: 'stale', why: `it was built from recipe ${provenance.recipe} (${built})`, provenance };
  if (provenance.recipeHash !== recipe.hash) return { state: 'stale', why: `recipe ${recipe.name} changed since it was built (${built})`, provenance };
  if (!(await exists(inReleasePath(ctx.config, recipe.codename)))) {
    return { state: 'stale', why: `the local mirror has no publication of ${recipe.codename} to compare it with`, provenance };
  }
  // The release alone: update suites bring upgrades, not another machine.
  const ref = await readPublication(ctx.config, recipe.codename);
  // Records from before indexDigest existed: only the very same publication counts.
  // A machine `upgrade` took from this very publication of the release has its package set too.
  const upgradedFromIt = provenance.upgradedAt !== undefined && provenance.suites?.[recipe.codename] === ref.inReleaseSha256;
  const samePackages =
    upgradedFromIt || (provenance.indexDigest !== undefined ? provenance.indexDigest === ref.indexDigest : provenance.inReleaseSha256 === ref.inReleaseSha256);
  if (!samePackages) return { state: 'stale', why: `the mirror's package set for ${recipe.codename} changed since it was built (${built})`, provenance };
  let firstBoot;
  try {
    firstBoot = await readFirstBootResult(root);
  } catch (err) {
    return { state: 'stale', why: `its first-boot result cannot be read (${err instanceof Error ? err.message : String(err)})`, provenance };
  }
  if (!firstBoot) return { state: 'unprovisioned', reason: `machine ${name} was built ${built} from the same recipe and package set; its first boot has not run yet`, provenance };
  if (firstBoot.status !== 'success') return { state: 'stale', why: `its first boot failed (exit ${firstBoot.exitCode})`, provenance };
  return { state: 'current', reason: `machine ${name} is up to date (built ${built} from the same recipe and package set)`, provenance };
}
