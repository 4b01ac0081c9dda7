/**
 * A machine resolved once: its name, root, storage, base and settings file,
 * handed down to boot, run, provision, injection, list and rm instead of
 * each re-deriving them.
 *
 * Storage comes from the host: an overlay machine has a record under
 * <stateDir>/overlay (machine/overlay-state.ts). A machine without one whose
 * provenance says "overlay" is an old-layout overlay (its directory is the
 * upper directory, stacked by nspawn's Overlay=): only `nspawn-kit migrate`
 * uses that claim, to move it to the new layout once.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/types.js';
import { OperationError } from '../errors.js';
import { exists } from '../shell.js';
import { assertMachinePathName } from './name.js';
import { effectiveSettingsFile } from './nspawn-argv.js';
import { overlayPaths, readOverlayRecord, recordLower, type OverlayPaths } from './overlay-state.js';
import { readProvenance } from './provenance.js';
import { BASE_NAME } from '../rootfs/overlay.js';
import { baseCacheDir } from '../rootfs/base-cache.js';
import type { Provenance } from './paths.js';
import { mountOption, readMountInfo, topMountAt } from '../proc.js';

export type MachineStorage =
  | { kind: 'copy' }
  /** Mounted on the host at root: lower (the base) + paths.upper, paths.work. */
  | { kind: 'overlay'; recipe: string; base: string; lower: string; paths: OverlayPaths }
  /** The old layout: root is the upper directory; `nspawn-kit migrate` moves it. */
  | { kind: 'legacy-overlay'; base: string; lower: string };

export interface MachineHandle {
  name: string;
  /** <machines.dir>/<name>: the whole root (an overlay machine's mount point). */
  root: string;
  storage: MachineStorage;
  /** The .nspawn file systemd-nspawn reads, and whether it must be told to trust it. */
  settings: { file: string; needsTrust: boolean };
}

/** An old-layout overlay as its provenance describes it (checked against the base naming rule, under <stateDir>/base only). */
export function legacyStorageOf(config: Pick<Config, 'stateDir'>, prov: Provenance | undefined): Extract<MachineStorage, { kind: 'legacy-overlay' }> | undefined {
  if (prov?.storage !== 'overlay' || !prov.base || !BASE_NAME.test(prov.base)) return undefined;
  return { kind: 'legacy-overlay', base: prov.base, lower: join(baseCacheDir(config), prov.base) };
}

export function machineRoot(config: Pick<Config, 'machines'>, name: string): string {
  assertMachinePathName(name);
  return join(config.machines.dir, name);
}

/** What the host knows of machine `name` (it need not exist). */
export async function resolveMachine(config: Pick<Config, 'machines' | 'stateDir'>, name: string): Promise<MachineHandle> {
  const root = machineRoot(config, name);
  const settings = effectiveSettingsFile(config, name);
  const record = await readOverlayRecord(config, name);
  if (record) {
    const storage: MachineStorage = { kind: 'overlay', recipe: record.recipe, base: record.base, lower: recordLower(config, record), paths: overlayPaths(config, name) };
    return { name, root, storage, settings };
  }
  const legacy = legacyStorageOf(config, await readProvenance(root).catch(() => undefined));
  return { name, root, storage: legacy ?? { kind: 'copy' }, settings };
}

/** True when the machine's overlay is mounted at its root (the top mount there is its overlay). */
export async function isMounted(handle: MachineHandle): Promise<boolean> {
  const { storage } = handle;
  if (storage.kind !== 'overlay') return false;
  const real = await fsp.realpath(handle.root).catch(() => undefined);
  if (real === undefined) return false;
  const top = topMountAt(await readMountInfo(), real);
  if (top?.fsType !== 'overlay') return false;
  // The kernel shows upperdir as it was given to mount: our path, or its real path under a symlinked state dir.
  const shown = mountOption(top.superOptions, 'upperdir');
  return shown === storage.paths.upper || shown === (await fsp.realpath(storage.paths.upper).catch(() => storage.paths.upper));
}

/**
 * Where the host reads the records nspawn-kit keeps in a machine (provenance,
 * first-boot marker) without mounting anything: the root, or an unmounted
 * overlay's upper directory, which holds every file written after the base.
 */
export async function recordRoot(handle: MachineHandle): Promise<string> {
  return handle.storage.kind === 'overlay' && !(await isMounted(handle)) ? handle.storage.paths.upper : handle.root;
}

/** Whether a machine of that name exists (a root with etc/, or a committed overlay record). */
export async function machineExists(handle: MachineHandle): Promise<boolean> {
  return handle.storage.kind === 'overlay' || (await exists(join(handle.root, 'etc')));
}

/** The handle of a machine that must exist. */
export async function existingMachine(config: Pick<Config, 'machines' | 'stateDir'>, name: string): Promise<MachineHandle> {
  const handle = await resolveMachine(config, name);
  if (!(await machineExists(handle))) {
    throw new OperationError(`no machine ${name} under ${config.machines.dir}`, '`nspawn-kit list` shows the machines; `nspawn-kit create <recipe> --name NAME` makes one.');
  }
  return handle;
}
