/**
 * Bases in use and their release: which cached bases overlay machines stand
 * on (from the host's overlay records, machine/overlay-state.ts), and
 * removing a superseded base with its last machine.
 *
 * Old-layout overlay machines (not migrated yet) have no host record: the
 * base their provenance names is kept too. That claim comes from inside the
 * container, so it is only ever used to keep a base (a base name checked
 * against the naming rule, under <stateDir>/base), never to remove or mount one.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/types.js';
import type { Shell } from '../shell.js';
import { baseCacheDir, listBases } from '../rootfs/base-cache.js';
import { ensureMounted } from './overlay-mount.js';
import { legacyStorageOf, resolveMachine } from './handle.js';
import { listOverlayRecords, overlayPaths } from './overlay-state.js';
import { readProvenance } from './provenance.js';

/** Names of the bases that overlay machines stand on (but machine `except`: one being removed). */
export async function basesInUse(config: Pick<Config, 'stateDir' | 'machines'>, except?: string): Promise<Set<string>> {
  const used = new Set((await listOverlayRecords(config)).filter((r) => r.machine !== except).map((r) => r.base));
  let entries: string[];
  try {
    entries = await fsp.readdir(config.machines.dir);
  } catch {
    return used;
  }
  for (const entry of entries) {
    if (entry.startsWith('.') || entry === except || (await fsp.lstat(overlayPaths(config, entry).record).catch(() => undefined))) continue;
    const legacy = legacyStorageOf(config, await readProvenance(join(config.machines.dir, entry)).catch(() => undefined));
    if (legacy) used.add(legacy.base);
  }
  return used;
}

/**
 * After an overlay machine is removed: its base goes too when no other
 * machine stands on it and it is not the newest base of its recipe (the one
 * the next create reuses). Returns the removed directory, if any (in a dry
 * run: the one it would remove; `machine`, the removed one, counts as gone).
 */
export async function releaseBase(sh: Shell, config: Pick<Config, 'stateDir' | 'machines'>, removed: { recipe: string; base?: string }, machine?: string): Promise<string | undefined> {
  const { base } = removed;
  if (base === undefined) return undefined;
  if ((await basesInUse(config, machine)).has(base)) return undefined;
  const bases = await listBases(config, removed.recipe);
  if (!bases.includes(base)) return undefined;
  const mtimes = await Promise.all(bases.map(async (b) => ({ b, t: (await fsp.stat(join(baseCacheDir(config), b)).catch(() => undefined))?.mtimeMs ?? 0 })));
  const newest = mtimes.sort((x, y) => y.t - x.t)[0]?.b;
  if (newest === base) return undefined;
  const dir = join(baseCacheDir(config), base);
  await sh.remove(dir);
  return dir;
}

/**
 * Runs fn on the machine's whole root: a copy's directory, or an overlay
 * machine's directory with its overlay mounted (and left mounted).
 */
export async function withMachineView<T>(sh: Shell, config: Pick<Config, 'stateDir' | 'machines'>, name: string, _root: string, fn: (view: string) => Promise<T>): Promise<T> {
  const handle = await resolveMachine(config, name);
  await ensureMounted(sh, handle);
  return fn(handle.root);
}
