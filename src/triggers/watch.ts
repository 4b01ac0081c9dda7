/**
 * Watches apt archive directories for new .debs and hands settled, valid
 * files over in batches. Watcher events are hints only: a file counts once
 * its size and mtime have not changed for `settleMs` AND it validates (a
 * truncated .deb, still being written, fails validation and is retried on its
 * next change). apt writes into partial/ and renames when verified, so only
 * top-level *.deb files are watched (depth 0, inotify, no polling: memory
 * stays flat with tens of thousands of files).
 *
 * Machines built by nspawn-kit (a PROVENANCE file inside their root) have their
 * own /var/cache/apt/archives watched too, filed under their codename; see
 * machines.ts for how they are discovered.
 */
import { watch, type FSWatcher } from 'chokidar';
import { promises as fsp, type Stats } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { Archive } from '../config/types.js';
import { PROVENANCE } from '../machine/paths.js';

export interface WatchedFile {
  path: string;
  codename: string;
}

export type WatchEvent =
  | { event: 'ready'; dirs: number; files: number }
  | { event: 'settled'; path: string; codename: string }
  | { event: 'invalid'; path: string; reason: string }
  | { event: 'batch'; files: number }
  | { event: 'machine-added'; machine: string; codename: string; dir: string }
  | { event: 'machine-removed'; machine: string; dir: string }
  | { event: 'error'; message: string };

export interface ArchiveWatcherOptions {
  archives: Archive[];
  /** machines.dir: watch the archives of the machines nspawn-kit built there. */
  machinesDir?: string;
  settleMs: number;
  batchMs: number;
  /** true if the file is a complete, valid .deb; a string says why not. */
  validate: (path: string) => Promise<true | string>;
  onBatch: (files: WatchedFile[]) => void;
  onEvent?: (event: WatchEvent) => void;
  /** Machines whose provenance appears after their directory are found by this periodic rescan. */
  machineRescanMs?: number;
  /** Validations in parallel (dpkg-deb reads the whole file). */
  concurrency?: number;
}

export interface ArchiveWatcher {
  /** Directories watched now, with the codename files are filed under. */
  dirs(): Archive[];
  /** Stops watching; files not yet handed over are picked up by the next start's reconcile. */
  close(): Promise<void>;
}

interface Tracked {
  size: number;
  mtimeMs: number;
  /** When size/mtime last changed (ms). */
  since: number;
}

/** Starts watching; resolves once the initial scan (reconcile) has been queued. */
export async function startArchiveWatcher(opts: ArchiveWatcherOptions): Promise<ArchiveWatcher> {
  const emit = (e: WatchEvent) => opts.onEvent?.(e);
  /** Watched dir -> codenames its files are filed under. */
  const roots = new Map<string, Set<string>>();
  /** Machine name -> its archive dir (static archives are not in here). */
  const machines = new Map<string, Archive>();
  const settling = new Map<string, Tracked>();
  /** Last size:mtime handed over or rejected per path, so a no-op event does no work. */
  const decided = new Map<string, string>();
  const validateQueue: string[] = [];
  const queued = new Set<string>();
  let validating = 0;
  let batch = new Map<string, WatchedFile>();
  let batchTimer: NodeJS.Timeout | undefined;
  let pollTimer: NodeJS.Timeout | undefined;
  let closed = false;
  const pollMs = Math.min(250, Math.max(50, Math.floor(opts.settleMs / 4)));
  const concurrency = opts.concurrency ?? 2;

  const isTopLevelDeb = (path: string) => roots.has(dirname(path)) && path.endsWith('.deb') && !basename(path).startsWith('.');

  const ignored = (path: string, stats?: Stats): boolean => {
    if (roots.has(path)) return false;
    if (!roots.has(dirname(path))) return true;
    // partial/, lock and anything else that is not a top-level *.deb file.
    if (stats && !stats.isFile()) return true;
    return !isTopLevelDeb(path);
  };

  // Roots are added one by one below (a root may not exist yet).
  const files = watch([], {
    ignored,
    depth: 0,
    usePolling: false,
    ignoreInitial: false,
    alwaysStat: true,
    followSymlinks: false,
    ignorePermissionErrors: true,
    atomic: false,
  });

  const noteChange = async (path: string, stats?: Stats): Promise<void> => {
    if (closed || !isTopLevelDeb(path)) return;
    const st = stats ?? (await fsp.stat(path).catch(() => undefined));
    if (!st || !st.isFile() || decided.get(path) === `${st.size}:${st.mtimeMs}`) return;
    // Stable since its mtime: a file untouched for settleMs already (found at
    // start, or renamed into place by apt) is settled at the next poll.
    settling.set(path, { size: st.size, mtimeMs: st.mtimeMs, since: Math.min(Date.now(), st.mtimeMs) });
    schedulePoll();
  };

  const schedulePoll = () => {
    if (pollTimer || closed) return;
    pollTimer = setTimeout(() => {
      pollTimer = undefined;
      void poll();
    }, 0);
  };

  const poll = async () => {
    const now = Date.now();
    await Promise.all(
      [...settling].map(async ([path, t]) => {
        const st = await fsp.stat(path).catch(() => undefined);
        if (!st) return void settling.delete(path);
        if (st.size !== t.size || st.mtimeMs !== t.mtimeMs) {
          settling.set(path, { size: st.size, mtimeMs: st.mtimeMs, since: Date.now() });
        } else if (now - t.since >= opts.settleMs && settling.get(path) === t) {
          settling.delete(path);
          enqueueValidation(path);
        }
      }),
    );
    if (settling.size && !closed) pollTimer = setTimeout(() => ((pollTimer = undefined), void poll()), pollMs);
  };

  const enqueueValidation = (path: string) => {
    if (queued.has(path)) return;
    queued.add(path);
    validateQueue.push(path);
    pump();
  };

  const pump = () => {
    while (validating < concurrency && validateQueue.length && !closed) {
      const path = validateQueue.shift()!;
      validating += 1;
      void validateOne(path).finally(() => {
        validating -= 1;
        queued.delete(path);
        pump();
      });
    }
  };

  const validateOne = async (path: string) => {
    const before = await fsp.stat(path).catch(() => undefined);
    if (!before) return;
    let verdict: true | string;
    try {
      verdict = await opts.validate(path);
    } catch (err) {
      verdict = err instanceof Error ? err.message : String(err);
    }
    const after = await fsp.stat(path).catch(() => undefined);
    if (!after || closed) return;
    if (after.size !== before.size || after.mtimeMs !== before.mtimeMs) {
      // Written to while we validated: settle again.
      return void noteChange(path, after);
    }
    decided.set(path, `${after.size}:${after.mtimeMs}`);
    if (verdict !== true) return emit({ event: 'invalid', path, reason: verdict });
    for (const codename of roots.get(dirname(path)) ?? []) {
      emit({ event: 'settled', path, codename });
      batch.set(`${codename}\0${path}`, { path, codename });
    }
    if (!batchTimer) batchTimer = setTimeout(flush, opts.batchMs);
  };

  const flush = () => {
    batchTimer = undefined;
    if (!batch.size || closed) return;
    const out = [...batch.values()];
    batch = new Map();
    emit({ event: 'batch', files: out.length });
    opts.onBatch(out);
  };

  const forget = (path: string) => {
    settling.delete(path);
    decided.delete(path);
  };

  files.on('add', (path, stats) => void noteChange(path, stats));
  files.on('change', (path, stats) => void noteChange(path, stats));
  files.on('unlink', forget);
  files.on('error', (err) => emit({ event: 'error', message: err instanceof Error ? err.message : String(err) }));

  /** Roots that do not exist (yet): armed by the periodic rescan once they appear. */
  const missing = new Set<string>();

  /**
   * Arms chokidar on an existing root, then lists it ourselves: chokidar's
   * `ready` may fire before a directory added later has been read, and the
   * listing is what reconciles files that arrived while we were down.
   * Duplicates with chokidar's own initial `add` events are harmless.
   */
  let listed = 0;
  const arm = async (path: string): Promise<void> => {
    const st = await fsp.stat(path).catch(() => undefined);
    if (!st?.isDirectory()) return void missing.add(path);
    missing.delete(path);
    files.add(path);
    const names = await fsp.readdir(path).catch(() => [] as string[]);
    const debs = names.map((n) => join(path, n)).filter(isTopLevelDeb);
    listed += debs.length;
    await Promise.all(debs.map((p) => noteChange(p)));
  };

  const addRoot = async (dir: string, codename: string): Promise<void> => {
    const path = resolve(dir);
    const known = roots.get(path);
    if (known) return void known.add(codename);
    roots.set(path, new Set([codename]));
    return arm(path);
  };

  const removeRoot = (dir: string) => {
    const path = resolve(dir);
    roots.delete(path);
    missing.delete(path);
    files.unwatch(path);
    for (const p of [...settling.keys(), ...decided.keys()]) if (dirname(p) === path) forget(p);
  };

  // ---- machines built by nspawn-kit ----
  let machineWatcher: FSWatcher | undefined;
  const machinesDir = opts.machinesDir ? resolve(opts.machinesDir) : undefined;
  const staticRoots = new Set(opts.archives.map((a) => resolve(a.path)));
  const watchMachinesDir = async () => {
    if (!machinesDir || machineWatcher || !(await fsp.stat(machinesDir).catch(() => undefined))?.isDirectory()) return;
    // depth 0: only machines appearing or disappearing; never recurse into their roots.
    machineWatcher = watch(machinesDir, {
      depth: 0,
      usePolling: false,
      ignoreInitial: true,
      followSymlinks: false,
      ignored: (path, stats) => path !== machinesDir && (dirname(path) !== machinesDir || (stats !== undefined && !stats.isDirectory())),
    });
    machineWatcher.on('addDir', () => void requestRescan());
    machineWatcher.on('unlinkDir', () => void requestRescan());
  };
  const rescan = async () => {
    if (closed) return;
    for (const path of [...missing]) await arm(path);
    if (!machinesDir) return;
    await watchMachinesDir();
    const found = await discoverMachineArchives(machinesDir);
    for (const [name, m] of machines) {
      const now = found.get(name);
      if (now && now.codename === m.codename) continue;
      machines.delete(name);
      if (!staticRoots.has(resolve(m.path))) removeRoot(m.path);
      emit({ event: 'machine-removed', machine: name, dir: m.path });
    }
    for (const [name, m] of found) {
      if (machines.has(name) || closed) continue;
      machines.set(name, m);
      emit({ event: 'machine-added', machine: name, codename: m.codename, dir: m.path });
      await addRoot(m.path, m.codename);
    }
  };
  // Rescans run one after the other, never interleaved.
  let rescanning: Promise<void> = Promise.resolve();
  const requestRescan = () => {
    rescanning = rescanning.then(rescan).catch((err: unknown) => {
      emit({ event: 'error', message: `rescan: ${err instanceof Error ? err.message : String(err)}` });
    });
    return rescanning;
  };

  for (const a of opts.archives) await addRoot(a.path, a.codename);
  await requestRescan();
  // Machines whose provenance is written after their directory appears, and
  // archive directories created after start, are found by this slow rescan.
  const rescanTimer = setInterval(() => void requestRescan(), opts.machineRescanMs ?? 5000);
  emit({ event: 'ready', dirs: roots.size, files: listed });

  return {
    dirs: () => [...roots].flatMap(([path, codenames]) => [...codenames].map((codename) => ({ path, codename }))),
    async close() {
      closed = true;
      clearTimeout(batchTimer);
      clearTimeout(pollTimer);
      clearInterval(rescanTimer);
      await rescanning;
      await Promise.all([files.close(), machineWatcher?.close()]);
    },
  };
}

/** Where apt inside a machine keeps its downloads, seen from the host. */
export function machineArchiveDir(machinesDir: string, name: string): string {
  return join(machinesDir, name, 'var', 'cache', 'apt', 'archives');
}

/**
 * Machines nspawn-kit built under machinesDir: a directory (not hidden, so no
 * build in progress) whose root holds a PROVENANCE record with a codename.
 */
export async function discoverMachineArchives(machinesDir: string): Promise<Map<string, Archive>> {
  const found = new Map<string, Archive>();
  const entries = await fsp.readdir(machinesDir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
    const codename = await readProvenanceCodename(join(machinesDir, entry.name, PROVENANCE));
    if (codename) found.set(entry.name, { path: machineArchiveDir(machinesDir, entry.name), codename });
  }
  return found;
}

async function readProvenanceCodename(file: string): Promise<string | undefined> {
  try {
    const data: unknown = JSON.parse(await fsp.readFile(file, 'utf8'));
    const codename = typeof data === 'object' && data !== null ? (data as { codename?: unknown }).codename : undefined;
    // A codename names a suite directory: refuse anything that could climb out of it.
    return typeof codename === 'string' && /^[a-z0-9][a-z0-9.+-]*$/.test(codename) ? codename : undefined;
  } catch {
    return undefined;
  }
}
