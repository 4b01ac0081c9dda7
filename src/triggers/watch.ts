/**
 * Watches apt archive directories for new .debs and hands settled, valid
 * files over in batches. Watcher events are hints only: a file counts once
 * its size and mtime have not changed for `settleMs` AND it validates (a
 * truncated .deb, still being written, fails validation and is retried on its
 * next change). apt writes into partial/ and renames when verified, so only
 * top-level *.deb files count (partial/, lock and other names are ignored).
 *
 * Memory: chokidar puts one fs.watch on every file it tracks; measured with
 * 20,000 files at depth 0 that is ~150 MB RSS and 6 s to get ready. So
 * chokidar tracks the directories only (inotify, no polling, depth 0) and its
 * `raw` events (the directory's inotify events, with the file name) are the
 * hints: ~65 MB with 20,000 files. Files are listed by us at start (the
 * reconcile) and every `reconcileMs`, which also covers an inotify overflow.
 *
 * Machines built by nspawn-kit (a PROVENANCE file inside their root) have their
 * own /var/cache/apt/archives watched too, filed under their codename (found
 * by machine-archives.ts). Root inside a machine controls that directory: it
 * is resolved inside the machine root (never a host path through a symlink),
 * its symlinks, FIFOs, sockets and devices are reported once and never
 * opened, its files are not validated here (dpkg-deb would open them in
 * place: the importer validates its own private copy), and they carry the
 * machine's name so the importer accepts only bytes a verified package list
 * of the machine's codename names (mirror/machine-files.ts). Admin archives'
 * files are validated through a descriptor opened without following links or
 * blocking, with a deadline; a symlink leading out of its directory is
 * reported once and never read (safe-open.ts).
 */
import { watch, type FSWatcher } from 'chokidar';
import { promises as fsp } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { Archive } from '../config/types.js';
import { discoverMachineArchives, type MachineArchive } from './machine-archives.js';
import { statEntry, validateOpened } from './safe-open.js';

export { discoverMachineArchives, MACHINE_ARCHIVES, resolveMachineArchiveDir, type MachineArchive } from './machine-archives.js';

export interface WatchedFile {
  path: string;
  codename: string;
  /** The machine whose apt cache holds the file (root in that machine wrote it); absent for mirror.archives. */
  machine?: string;
}

export type WatchEvent =
  | { event: 'ready'; dirs: number; files: number }
  | { event: 'settled'; path: string; codename: string }
  | { event: 'invalid'; path: string; reason: string }
  | { event: 'batch'; files: number }
  | { event: 'machine-added'; machine: string; codename: string; dir: string }
  | { event: 'machine-removed'; machine: string; dir: string }
  | { event: 'machine-refused'; machine: string; reason: string }
  | { event: 'error'; message: string };

export interface ArchiveWatcherOptions {
  archives: Archive[];
  /** machines.dir: watch the archives of the machines nspawn-kit built there. */
  machinesDir?: string;
  settleMs: number;
  batchMs: number;
  /** true if the file is a complete, valid .deb, else why not. Given /proc/<pid>/fd/<N> of a descriptor the watcher holds open; the signal fires at the deadline. */
  validate: (path: string, signal?: AbortSignal) => Promise<true | string>;
  /** Validates many files in one go (same verdicts, in order); used instead of validate when given. */
  validateMany?: (paths: string[], signal?: AbortSignal) => Promise<(true | string)[]>;
  /** Deadline of one validation (default 120 s); its files are then reported invalid and retried on their next change. */
  validateTimeoutMs?: number;
  onBatch: (files: WatchedFile[]) => void;
  onEvent?: (event: WatchEvent) => void;
  /** Machines whose provenance appears after their directory are found by this periodic rescan. */
  machineRescanMs?: number;
  /** Full listing of every watched directory (default 10 min): events are hints, this is the safety net. */
  reconcileMs?: number;
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
  /** Machine name -> its archive dir and that dir's inode (a rebuilt machine is a new directory). */
  const machines = new Map<string, MachineArchive & { ino: number | undefined }>();
  /** Watched dir -> the machine it belongs to (dirs the admin also configured are not listed: they are trusted). */
  const machineOf = new Map<string, string>();
  /** Last refusal per machine, so a rescan every few seconds does not repeat the log line. */
  const refused = new Map<string, string>();
  const settling = new Map<string, Tracked>();
  /** Last size:mtime handed over or rejected per path, so a no-op event does no work. */
  const decided = new Map<string, string>();
  /** Waiting for or in validation; a Set keeps FIFO order with O(1) removal. */
  const validateQueue = new Set<string>();
  const queued = new Set<string>();
  let validating = 0;
  let batch = new Map<string, WatchedFile>();
  let batchTimer: NodeJS.Timeout | undefined;
  let pollTimer: NodeJS.Timeout | undefined;
  let closed = false;
  const pollMs = Math.min(250, Math.max(50, Math.floor(opts.settleMs / 4)));
  const concurrency = opts.concurrency ?? 2;

  const isTopLevelDeb = (path: string) => roots.has(dirname(path)) && path.endsWith('.deb') && !basename(path).startsWith('.');

  // Directories only (see the header); roots are added below, they may not exist yet.
  const files = watch([], {
    ignored: (path: string) => !roots.has(path),
    depth: 0,
    usePolling: false,
    ignoreInitial: true,
    followSymlinks: false,
    ignorePermissionErrors: true,
    atomic: false,
  });

  /** Never follows a machine's symlinks, nor an admin archive's leading out of its directory (safe-open.ts). */
  const entryOf = (path: string) => statEntry(path, machineOf.get(dirname(path)));
  const statOf = async (path: string) => (await entryOf(path)).st;

  const noteChange = async (path: string): Promise<void> => {
    // In validation: validateGroup itself notices a change made meanwhile.
    if (closed || !isTopLevelDeb(path) || queued.has(path)) return;
    const { st, refused } = await entryOf(path);
    if (refused !== undefined) {
      // Reported once per path (a rescan every few seconds must not repeat it).
      if (decided.get(path) === refused) return;
      decided.set(path, refused);
      return emit({ event: 'invalid', path, reason: refused });
    }
    if (!st) return forget(path);
    if (decided.get(path) === `${st.size}:${st.mtimeMs}`) return;
    // Every write moves mtime: a file untouched for settleMs (found at start,
    // or renamed into place by apt after its download) has settled already.
    if (Date.now() - st.mtimeMs >= opts.settleMs) return void (settling.delete(path), enqueueValidation(path));
    settling.set(path, { size: st.size, mtimeMs: st.mtimeMs, since: Math.min(Date.now(), st.mtimeMs) });
    schedulePoll();
  };

  let polling = false;
  const schedulePoll = (delay = 0) => {
    if (pollTimer || polling || closed) return;
    pollTimer = setTimeout(() => {
      pollTimer = undefined;
      void poll();
    }, delay);
  };

  // One pass at a time over the files still settling.
  const poll = async () => {
    polling = true;
    const now = Date.now();
    const entries = [...settling];
    for (let i = 0; i < entries.length && !closed; i += 256) {
      await Promise.all(
        entries.slice(i, i + 256).map(async ([path, t]) => {
          const st = await statOf(path);
          if (!st) return void settling.delete(path);
          if (st.size !== t.size || st.mtimeMs !== t.mtimeMs) {
            settling.set(path, { size: st.size, mtimeMs: st.mtimeMs, since: Date.now() });
          } else if (now - t.since >= opts.settleMs && settling.get(path) === t) {
            settling.delete(path);
            enqueueValidation(path);
          }
        }),
      );
    }
    polling = false;
    if (settling.size) schedulePoll(pollMs);
  };

  const enqueueValidation = (path: string) => {
    if (queued.has(path)) return;
    queued.add(path);
    validateQueue.add(path);
    pump();
  };

  // With validateMany, a worker takes up to 64 queued files at once: one
  // process for many files makes the start-up reconcile of a big cache cheap.
  const pump = () => {
    while (validating < concurrency && validateQueue.size && !closed) {
      const group: string[] = [];
      for (const path of validateQueue) {
        group.push(path);
        if (!opts.validateMany || group.length === 64) break;
      }
      for (const path of group) validateQueue.delete(path);
      validating += 1;
      void validateGroup(group).finally(() => {
        validating -= 1;
        for (const path of group) queued.delete(path);
        pump();
      });
    }
  };

  const validateGroup = async (paths: string[]) => {
    const before = await Promise.all(paths.map(statOf));
    // A machine's file is never validated in place (a swap to a FIFO would hang dpkg-deb): the importer validates its copy.
    const checked = paths.filter((p) => !machineOf.has(dirname(p)));
    // Through descriptors opened here (no link followed, no FIFO waited on), with a deadline.
    const verdicts = checked.length ? await validateOpened(checked, { ...opts, timeoutMs: opts.validateTimeoutMs }) : undefined;
    for (const [i, path] of paths.entries()) {
      const after = await statOf(path);
      const was = before[i];
      if (!after || !was || closed) continue;
      const ino = verdicts?.get(path)?.ino;
      if (after.size !== was.size || after.mtimeMs !== was.mtimeMs || (ino !== undefined && ino !== after.ino)) {
        // Written to while we validated: settle again (after `queued` is cleared).
        setImmediate(() => void noteChange(path));
        continue;
      }
      decided.set(path, `${after.size}:${after.mtimeMs}`);
      const verdict = checked.includes(path) ? (verdicts?.get(path)?.verdict ?? 'not validated') : true;
      if (verdict !== true) {
        emit({ event: 'invalid', path, reason: verdict });
        continue;
      }
      const machine = machineOf.get(dirname(path));
      for (const codename of roots.get(dirname(path)) ?? []) {
        emit({ event: 'settled', path, codename });
        batch.set(`${codename}\0${path}`, machine === undefined ? { path, codename } : { path, codename, machine });
      }
      if (!batchTimer) batchTimer = setTimeout(flush, opts.batchMs);
    }
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

  // The directory's inotify events: 'rename' (created, moved in or out, deleted) or 'change' (written).
  files.on('raw', (_event, name, details) => {
    const dir = (details as { watchedPath?: unknown }).watchedPath;
    if (typeof dir === 'string' && typeof name === 'string' && roots.has(dir)) void noteChange(join(dir, name));
  });
  files.on('error', (err) => emit({ event: 'error', message: err instanceof Error ? err.message : String(err) }));

  /** Roots that do not exist (yet): armed by the periodic rescan once they appear. */
  const missing = new Set<string>();

  /** Lists a root: what arrived while we were down, or what an event storm hid. */
  let listed = 0;
  const list = async (path: string): Promise<void> => {
    const names = await fsp.readdir(path).catch(() => [] as string[]);
    const debs = names.map((n) => join(path, n)).filter(isTopLevelDeb);
    listed += debs.length;
    // In slices: 20,000 concurrent stats would only queue up in libuv.
    for (let i = 0; i < debs.length; i += 256) await Promise.all(debs.slice(i, i + 256).map((p) => noteChange(p)));
  };

  /** Arms inotify on an existing root first, then lists it, so nothing falls in between. */
  const arm = async (path: string): Promise<void> => {
    const st = await fsp.stat(path).catch(() => undefined);
    if (!st?.isDirectory()) return void missing.add(path);
    missing.delete(path);
    files.add(path);
    // chokidar arms fs.watch asynchronously; list only once it is in place.
    for (let i = 0; i < 100 && files.getWatched()[path] === undefined && !closed; i++) await new Promise((r) => setTimeout(r, 20));
    await list(path);
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
    machineOf.delete(path);
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
    const found = await discoverMachineArchives(machinesDir, (machine, reason) => {
      if (refused.get(machine) === reason) return;
      refused.set(machine, reason);
      emit({ event: 'machine-refused', machine, reason });
    });
    for (const name of found.keys()) refused.delete(name);
    const inode = async (dir: string) => (await fsp.lstat(dir).catch(() => undefined))?.ino;
    for (const [name, m] of machines) {
      const now = found.get(name);
      if (now && now.codename === m.codename && now.path === m.path && (await inode(now.path)) === m.ino) continue;
      machines.delete(name);
      if (!staticRoots.has(resolve(m.path))) removeRoot(m.path);
      emit({ event: 'machine-removed', machine: name, dir: m.path });
    }
    for (const [name, m] of found) {
      if (machines.has(name) || closed) continue;
      machines.set(name, { ...m, ino: await inode(m.path) });
      emit({ event: 'machine-added', machine: name, codename: m.codename, dir: m.path });
      if (!staticRoots.has(m.path)) machineOf.set(m.path, name);
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
  const reconcileTimer = setInterval(() => {
    rescanning = rescanning.then(async () => {
      for (const root of roots.keys()) if (!missing.has(root)) await list(root);
    });
  }, opts.reconcileMs ?? 600_000);
  emit({ event: 'ready', dirs: roots.size, files: listed });

  return {
    dirs: () => [...roots].flatMap(([path, codenames]) => [...codenames].map((codename) => ({ path, codename }))),
    async close() {
      closed = true;
      clearTimeout(batchTimer);
      clearTimeout(pollTimer);
      clearInterval(rescanTimer);
      clearInterval(reconcileTimer);
      await rescanning;
      await Promise.all([files.close(), machineWatcher?.close()]);
    },
  };
}
