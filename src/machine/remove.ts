/**
 * `nspawn-kit rm NAME` (and its dry run: the same walk, every removal
 * planned by the Shell, the report saying what would go).
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { requireReadableDirs } from '../dir-access.js';
import { OperationError } from '../errors.js';
import { exists } from '../shell.js';
import { sweepStaleBuilds, unmountAll } from '../rootfs/builddir.js';
import { nspawnPids } from './boot.js';
import type { MachineContext } from './create.js';
import { resolveMachine, type MachineHandle } from './handle.js';
import { assertMachineName } from './name.js';
import { besideRootSettingsFile } from './nspawn-file.js';
import { unmountMachine } from './overlay-mount.js';
import { overlayPaths } from './overlay-state.js';
import { mountUnitName } from './overlay-units.js';
import { readProvenance } from './provenance.js';
import { releaseBase } from './storage.js';
import { serviceDropInDir } from './nspawn-argv.js';

export interface RemoveOptions {
  /** Where the .nspawn file was written (default config.machines.settingsDir). */
  settingsDir?: string;
  /** Where the unit drop-in was written (default config.machines.unitDir). */
  unitDir?: string;
}

export interface RemoveReport {
  name: string;
  removed: string[];
  unmounted: string[];
  /** The base of an overlay machine, removed with it when nothing else uses it and a newer base exists. */
  releasedBase?: string;
  /** A dry run: nothing was removed; removed, unmounted and releasedBase say what would be. */
  dryRun?: true;
}

/** The stdout line of `rm`: what went, or (dry run) what would go. */
export function formatRemoveReport(r: RemoveReport): string {
  const base = r.releasedBase ? `base ${r.releasedBase}, which nothing else uses` : '';
  if (r.dryRun) return `would remove ${r.name} (${[...r.removed, ...(base ? [base] : [])].join(', ')})`;
  return `removed ${r.name}${base ? ` and its ${base.replace('uses', 'used')}` : ''}`;
}

/**
 * What a killed systemd-nspawn leaves beside the machine's directory: its
 * image lock `.#<name>.lck` and, for an overlay machine, the overlay's work
 * directory `.#<name><16 hex>` (measured with systemd 252 after a SIGKILL).
 */
async function nspawnLeftovers(machinesDir: string, name: string): Promise<string[]> {
  const escaped = name.replace(/[.+]/g, '\\$&');
  const own = new RegExp(`^\\.#${escaped}(\\.lck|[0-9a-f]{16})$`);
  const entries = await fsp.readdir(machinesDir).catch(() => [] as string[]);
  return entries.filter((e) => own.test(e)).map((e) => join(machinesDir, e));
}

/** What `rm` releases with the machine: the base of an overlay machine, from the host record (or an old-layout provenance). */
async function baseOfRemoved(handle: MachineHandle): Promise<{ recipe: string; base?: string } | undefined> {
  const { storage } = handle;
  if (storage.kind === 'overlay') return { recipe: storage.recipe, base: storage.base };
  if (storage.kind !== 'legacy-overlay') return undefined;
  const prov = await readProvenance(handle.root).catch(() => undefined);
  return prov ? { recipe: prov.recipe, base: storage.base } : undefined;
}

/**
 * `nspawn-kit rm NAME`: refuses a running machine; unmounts an overlay
 * machine (refusing when busy), then removes its record first (after a kill
 * midway the machine is no longer one), its upper and work directories, the
 * mount point, settings and units; never crosses file systems.
 */
export async function removeMachine(ctx: MachineContext, name: string, opts: RemoveOptions = {}): Promise<RemoveReport> {
  const { sh, config } = ctx;
  assertMachineName(name);
  // A dry run as another user: a directory it cannot read is not "no machine" (dir-access.ts).
  await requireReadableDirs([config.machines.dir, config.stateDir], 'rm');
  await sweepStaleBuilds(ctx);
  const root = join(config.machines.dir, name);
  const state = overlayPaths(config, name);
  // A broken record still lets the machine go: its state directory is removed all the same.
  const handle = await resolveMachine(config, name).catch(() => ({ name, root, storage: { kind: 'copy' } as const }) as MachineHandle);
  const removed: string[] = [];
  let unmounted: string[] = [];
  const pids = await nspawnPids(root);
  if (pids.length > 0) {
    throw new OperationError(
      `machine ${name} is running (systemd-nspawn pid ${pids.join(', ')})`,
      `Power it off first (\`kill -TERM ${pids[0]}\` halts it cleanly, or \`poweroff\` inside), then run \`nspawn-kit rm ${name}\` again.`,
    );
  }
  const released = await baseOfRemoved(handle);
  if (await exists(root)) unmounted = handle.storage.kind === 'overlay' ? await unmountMachine(sh, handle) : await unmountAll(sh, root);
  if (await exists(state.state)) {
    if (await exists(state.record)) await sh.remove(state.record);
    await sh.remove(state.state);
    removed.push(state.state);
  }
  // A half-removed machine (no etc/, no provenance) is still removable.
  if (await exists(root)) {
    await sh.remove(root);
    removed.push(root);
  }
  // Only the configured directories: a library call never falls back to /etc.
  const settingsDir = opts.settingsDir ?? config.machines.settingsDir;
  const unitDir = opts.unitDir ?? config.machines.unitDir;
  const leftovers = [
    join(settingsDir, `${name}.nspawn`),
    besideRootSettingsFile(config, name),
    serviceDropInDir(unitDir, name),
    join(unitDir, mountUnitName(root)),
    ...(await nspawnLeftovers(config.machines.dir, name)),
  ];
  for (const file of [...new Set(leftovers)]) {
    if (await exists(file)) {
      await sh.remove(file);
      removed.push(file);
    }
  }
  if (removed.length === 0) {
    throw new OperationError(`no machine ${name} under ${config.machines.dir}`, '`nspawn-kit list` shows the machines.');
  }
  // A dry run still has the machine's record: the base is judged as if the machine were gone.
  const releasedBase = released ? await releaseBase(sh, config, released, name) : undefined;
  return { name, removed, unmounted, ...(releasedBase ? { releasedBase } : {}), ...(sh.dryRun ? { dryRun: true as const } : {}) };
}
