/**
 * `nspawn-kit list` and `nspawn-kit rm`. A machine is a directory under
 * machines.dir with a provenance record; build dirs (dot names) and other
 * directories are not machines and are never touched.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { readableDir, unreadableError, isPermissionError } from '../dir-access.js';
import { OperationError } from '../errors.js';
import { exists } from '../shell.js';
import { baseCacheDir, treeBytes } from '../rootfs/base-cache.js';
import { nspawnPids } from './boot.js';
import type { MachineContext } from './create.js';
import { recordRoot, resolveMachine } from './handle.js';
import { overlayStateParent } from './overlay-state.js';
import { readFirstBootResult, readProvenance } from './provenance.js';
import { existsInRoot } from './inject.js';
import { FIRSTBOOT } from './paths.js';
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
  /** Bytes on disk of the base it stands on (an overlay machine; measured once per base per listing); absent for a copy. */
  baseBytes?: number;
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

/** Sizes measured during one listing: a base shared by several machines is measured once. */
type BaseSizes = Map<string, Promise<number>>;

/** One machine's row: records read from its root, or from an unmounted overlay's upper directory. */
async function machineInfo(ctx: MachineContext, name: string, sizes: BaseSizes | undefined, offers: MirrorOffers | undefined): Promise<MachineInfo | undefined> {
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
  if (sizes) {
    info.sizeBytes = await treeBytes(ctx.sh, sizeOf);
    const { base } = info;
    if (base !== undefined) {
      if (!sizes.has(base)) sizes.set(base, exists(base).then((yes) => (yes ? treeBytes(ctx.sh, base) : 0)));
      info.baseBytes = await sizes.get(base);
    }
  }
  return info;
}

/**
 * Every machine under machines.dir, by name. No machines.dir: none. A
 * directory this user may not read (machines.dir, the overlay records and
 * bases under stateDir, the mirror whose offers are counted) stops the
 * listing with unreadableError: it is not taken for "no machines".
 */
export async function listMachines(ctx: MachineContext, opts: ListOptions = {}): Promise<MachineInfo[]> {
  const { config } = ctx;
  if (!(await readableDir(config.machines.dir, 'list'))) return [];
  let entries: import('node:fs').Dirent[];
  try {
    entries = await fsp.readdir(config.machines.dir, { withFileTypes: true });
  } catch (err) {
    if (isPermissionError(err)) throw unreadableError(config.machines.dir, 'list');
    return [];
  }
  for (const dir of [config.stateDir, overlayStateParent(config), baseCacheDir(config), ...(opts.updates === false ? [] : [config.mirror.root])]) await readableDir(dir, 'list');
  const machines: MachineInfo[] = [];
  // One reading of the published indices for the whole listing.
  const offers = opts.updates === false ? undefined : new MirrorOffers(config);
  const sizes: BaseSizes | undefined = opts.sizes === false ? undefined : new Map();
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
    const info = await machineInfo(ctx, entry.name, sizes, offers);
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

const mibCell = (bytes: number) => `${(bytes / 1048576).toFixed(0)} MiB`;

/**
 * A table for the terminal, then one line per problem met counting a
 * machine's updates; `list --json` prints the MachineInfo[] instead.
 */
export function formatMachineTable(machines: MachineInfo[]): string {
  if (machines.length === 0) return 'no machines';
  const rows = [
    ['NAME', 'RECIPE', 'CODENAME', 'PUBLICATION', 'UPDATES', 'SIZE', 'BASE SIZE', 'STORAGE', 'FIRST BOOT', 'STATE'],
    ...machines.map((m) => [
      m.name,
      m.recipe,
      m.codename,
      m.inReleaseSha256 ? m.inReleaseSha256.slice(0, 12) : '-',
      updatesCell(m),
      mibCell(m.sizeBytes),
      m.baseBytes === undefined ? '-' : mibCell(m.baseBytes),
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

export { removeMachine, formatRemoveReport, type RemoveOptions, type RemoveReport } from './remove.js';
