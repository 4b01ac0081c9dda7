/**
 * `nspawn-kit list` and `nspawn-kit rm`. A machine is a directory under
 * machines.dir with a provenance record; build dirs (dot names) and other
 * directories are not machines and are never touched.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { OperationError } from '../errors.js';
import { exists } from '../shell.js';
import { treeBytes } from '../rootfs/base-cache.js';
import { sweepStaleBuilds, unmountAll } from '../rootfs/builddir.js';
import { nspawnPids } from './boot.js';
import type { MachineContext } from './create.js';
import { recordRoot, resolveMachine, type MachineHandle } from './handle.js';
import { assertMachineName } from './name.js';
import { besideRootSettingsFile } from './nspawn-file.js';
import { unmountMachine } from './overlay-mount.js';
import { overlayPaths } from './overlay-state.js';
import { mountUnitName } from './overlay-units.js';
import { readFirstBootResult, readProvenance } from './provenance.js';
import { existsInRoot } from './inject.js';
import { FIRSTBOOT } from './paths.js';
import { releaseBase } from './storage.js';
import { serviceDropInDir } from './nspawn-argv.js';
import { MirrorOffers, machineUpdates, type UpdateCounts } from './upgradable.js';

export type FirstBootState = 'pending' | 'success' | 'failure' | 'unknown';

export interface MachineInfo {
  name: string;
  root: string;
  recipe: string;
  codename: string;
  /** sha256 of the InRelease of the mirror publication it was built from. */
  inReleaseSha256: string;
  builtAt: string;
  backend: string;
  fromBaseCache: boolean;
  /** "overlay": the machine's changes over `base`, mounted on the host at root; "copy": a full root. */
  storage: 'copy' | 'overlay';
  /** The base directory under an overlay machine. */
  base?: string;
  /** An overlay machine: whether its overlay is mounted at root now. */
  mounted?: boolean;
  /** Bytes on disk of the machine's own files (du -sb, one file system): a copy's root, an overlay's upper directory. */
  sizeBytes: number;
  firstBoot: FirstBootState;
  firstBootExitCode?: number;
  running: boolean;
  /** A record that could not be read (hand-edited, half-written). */
  problem?: string;
  /** What the mirror now offers it (upgradable.ts); absent when unknown (then updateProblems says why). */
  updates?: UpdateCounts;
  /** Why the updates are unknown or partial (its dpkg status, the mirror's indices). */
  updateProblems?: string[];
}

export interface ListOptions {
  /** Skip du (a fast list for scripts); sizeBytes is then 0. */
  sizes?: boolean;
  /** Count the updates the mirror offers each machine (default true). */
  updates?: boolean;
}

/** A marker that cannot be read (a FIFO, a link, a bad value) is the machine's problem, not the listing's. */
async function firstBootState(root: string): Promise<{ state: FirstBootState; exitCode?: number; problem?: string }> {
  let result;
  try {
    result = await readFirstBootResult(root);
  } catch (err) {
    return { state: 'unknown', problem: err instanceof Error ? err.message : String(err) };
  }
  if (result) return { state: result.status, exitCode: result.exitCode };
  return { state: (await existsInRoot(root, FIRSTBOOT.script)) ? 'pending' : 'unknown' };
}

/** One machine's row: records read from its root, or from an unmounted overlay's upper directory. */
async function machineInfo(ctx: MachineContext, name: string, sizes: boolean, offers: MirrorOffers | undefined): Promise<MachineInfo | undefined> {
  const root = join(ctx.config.machines.dir, name);
  const running = async () => (await nspawnPids(root)).length > 0;
  let info: MachineInfo;
  let sizeOf = root;
  try {
    const handle = await resolveMachine(ctx.config, name);
    const records = await recordRoot(handle);
    const prov = await readProvenance(records);
    if (!prov) {
      if (handle.storage.kind !== 'overlay') return undefined;
      throw new OperationError(`overlay machine ${name} has no provenance record in ${records}`);
    }
    const fb = await firstBootState(records);
    info = {
      name,
      root,
      recipe: prov.recipe,
      codename: prov.codename,
      inReleaseSha256: prov.inReleaseSha256,
      builtAt: prov.builtAt,
      backend: prov.backend,
      fromBaseCache: prov.fromBaseCache,
      storage: handle.storage.kind === 'copy' ? 'copy' : 'overlay',
      sizeBytes: 0,
      firstBoot: fb.state,
      running: await running(),
    };
    if (fb.exitCode !== undefined) info.firstBootExitCode = fb.exitCode;
    if (fb.problem !== undefined) info.problem = fb.problem;
    const { storage } = handle;
    if (storage.kind !== 'copy') {
      info.base = storage.lower;
      if (!(await exists(join(storage.lower, 'etc')))) info.problem = `its base ${storage.lower} is missing`;
    }
    if (storage.kind === 'overlay') {
      info.mounted = records === root;
      sizeOf = storage.paths.upper;
    } else if (storage.kind === 'legacy-overlay') {
      info.problem = `it has the old overlay layout: run \`nspawn-kit migrate ${name}\` once`;
    }
    if (offers) {
      const updates = await machineUpdates(ctx.config, offers, handle, records, prov);
      if (updates.counts) info.updates = updates.counts;
      if (updates.problems.length) info.updateProblems = updates.problems;
    }
  } catch (err) {
    info = {
      name,
      root,
      recipe: '?',
      codename: '?',
      inReleaseSha256: '',
      builtAt: '',
      backend: '?',
      fromBaseCache: false,
      storage: 'copy',
      sizeBytes: 0,
      firstBoot: 'unknown',
      running: await running(),
      problem: err instanceof Error ? err.message : String(err),
    };
  }
  if (sizes) info.sizeBytes = await treeBytes(ctx.sh, sizeOf);
  return info;
}

export async function listMachines(ctx: MachineContext, opts: ListOptions = {}): Promise<MachineInfo[]> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await fsp.readdir(ctx.config.machines.dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const machines: MachineInfo[] = [];
  // One reading of the published indices for the whole listing.
  const offers = opts.updates === false ? undefined : new MirrorOffers(ctx.config);
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
    const info = await machineInfo(ctx, entry.name, opts.sizes !== false, offers);
    if (info) machines.push(info);
  }
  return machines;
}

/** The UPDATES cell: "0", "3 (1 security)", "?" when unknown. */
export function updatesCell(m: Pick<MachineInfo, 'updates'>): string {
  const u = m.updates;
  if (!u) return '?';
  return u.upgradable === 0 ? '0' : `${u.upgradable} (${u.security} security)`;
}

/**
 * A table for the terminal, then one line per problem met counting a
 * machine's updates; `list --json` prints the MachineInfo[] instead.
 */
export function formatMachineTable(machines: MachineInfo[]): string {
  if (machines.length === 0) return 'no machines';
  const rows = [
    ['NAME', 'RECIPE', 'CODENAME', 'PUBLICATION', 'UPDATES', 'SIZE', 'STORAGE', 'FIRST BOOT', 'STATE'],
    ...machines.map((m) => [
      m.name,
      m.recipe,
      m.codename,
      m.inReleaseSha256 ? m.inReleaseSha256.slice(0, 12) : '-',
      updatesCell(m),
      `${(m.sizeBytes / 1048576).toFixed(0)} MiB`,
      m.storage === 'copy' ? 'copy' : m.mounted ? 'overlay, mounted' : m.mounted === false ? 'overlay, not mounted' : 'overlay on base',
      m.firstBoot + (m.firstBoot === 'failure' ? ` (${m.firstBootExitCode})` : ''),
      m.problem ? `broken: ${m.problem.split('\n')[0]}` : m.running ? 'running' : 'stopped',
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const table = rows.map((r) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd());
  const notes = machines.flatMap((m) => (m.updateProblems ?? []).map((p) => `${m.name}: ${p}`));
  return [...table, ...notes].join('\n');
}

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
  const releasedBase = released && !sh.dryRun ? await releaseBase(sh, config, released) : undefined;
  return releasedBase ? { name, removed, unmounted, releasedBase } : { name, removed, unmounted };
}
