/**
 * How a machine's root is stored (rootfs/overlay.ts): a full copy, or an
 * overlay upper directory over a cached base. The host learns which from the
 * machine's provenance record; a base name read from there is checked
 * against the base naming rule and only ever looked up under
 * `<stateDir>/base`, so a record edited inside the container cannot point
 * nspawn at another host directory.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/types.js';
import { OperationError } from '../errors.js';
import { exists, type Shell } from '../shell.js';
import { baseCacheDir, listBases } from '../rootfs/base-cache.js';
import { openBuildDir } from '../rootfs/builddir.js';
import { BASE_NAME, mountOverlay } from '../rootfs/overlay.js';
import type { Provenance } from './paths.js';
import { readProvenance } from './provenance.js';

export type MachineStorage = { kind: 'copy' } | { kind: 'overlay'; base: string; lower: string };

/** The storage a provenance record describes (no file-system access). */
export function storageOf(config: Pick<Config, 'stateDir'>, prov: Provenance | undefined): MachineStorage {
  if (prov?.storage !== 'overlay' || !prov.base || !BASE_NAME.test(prov.base)) return { kind: 'copy' };
  return { kind: 'overlay', base: prov.base, lower: join(baseCacheDir(config), prov.base) };
}

/** False for an overlay machine whose base is gone (a copy has no base to lose). */
export async function baseExists(storage: MachineStorage): Promise<boolean> {
  return storage.kind === 'copy' || exists(join(storage.lower, 'etc'));
}

/** The storage of the machine at root; an overlay machine's base must exist. */
export async function machineStorage(config: Pick<Config, 'stateDir'>, root: string, name: string): Promise<MachineStorage> {
  const storage = storageOf(config, await readProvenance(root).catch(() => undefined));
  if (storage.kind === 'overlay' && !(await baseExists(storage))) {
    throw new OperationError(
      `machine ${name} is an overlay over the base ${storage.lower}, which is missing`,
      `The machine's own changes are in ${root}, but it cannot start without its base. Recreate it: \`nspawn-kit rm ${name}\`, then \`nspawn-kit create <recipe> --name ${name}\`.`,
    );
  }
  return storage;
}

/** Names of the bases that overlay machines under machines.dir stand on. */
export async function basesInUse(config: Pick<Config, 'stateDir' | 'machines'>): Promise<Set<string>> {
  const used = new Set<string>();
  let entries: string[];
  try {
    entries = await fsp.readdir(config.machines.dir);
  } catch {
    return used;
  }
  for (const entry of entries) {
    if (entry.startsWith('.')) continue;
    const prov = await readProvenance(join(config.machines.dir, entry)).catch(() => undefined);
    const storage = storageOf(config, prov);
    if (storage.kind === 'overlay') used.add(storage.base);
  }
  return used;
}

/**
 * After an overlay machine is removed: its base goes too when no other
 * machine stands on it and it is not the newest base of its recipe (the one
 * the next create reuses). Returns the removed directory, if any.
 */
export async function releaseBase(sh: Shell, config: Pick<Config, 'stateDir' | 'machines'>, prov: Provenance): Promise<string | undefined> {
  const storage = storageOf(config, prov);
  if (storage.kind !== 'overlay') return undefined;
  if ((await basesInUse(config)).has(storage.base)) return undefined;
  const bases = await listBases(config, prov.recipe);
  if (!bases.includes(storage.base)) return undefined;
  const mtimes = await Promise.all(bases.map(async (b) => ({ b, t: (await fsp.stat(join(baseCacheDir(config), b)).catch(() => undefined))?.mtimeMs ?? 0 })));
  const newest = mtimes.sort((x, y) => y.t - x.t)[0]?.b;
  if (newest === storage.base) return undefined;
  await sh.remove(storage.lower);
  return storage.lower;
}

/**
 * Runs fn on the machine's root as the container sees it: the root itself
 * for a copy; for an overlay, the base and the machine's directory mounted
 * together in a build dir beside it, unmounted and removed afterwards (also
 * on SIGINT/SIGTERM, and by the next command's sweep after a SIGKILL).
 */
export async function withMachineView<T>(sh: Shell, config: Pick<Config, 'stateDir' | 'machines'>, name: string, root: string, fn: (view: string) => Promise<T>): Promise<T> {
  const storage = await machineStorage(config, root, name);
  if (storage.kind === 'copy') return fn(root);
  const build = await openBuildDir(sh, { parent: config.machines.dir, label: `view-${name}`, target: root });
  try {
    const merged = join(build.dir, 'merged');
    const error = await mountOverlay(sh, { lower: storage.lower, upper: root, work: join(build.dir, 'work'), merged }, build.signal);
    if (error) throw new OperationError(`could not mount machine ${name} over its base ${storage.lower}: ${error}`, 'Check that the kernel has overlayfs (`modprobe overlay`) and that the machine is not running.');
    return await fn(sh.dryRun ? root : merged);
  } finally {
    await build.discard();
  }
}
