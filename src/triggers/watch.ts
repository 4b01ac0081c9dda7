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
 * by machine-archives.ts, rescanned by machine-discovery.ts). Root inside a machine controls that directory: it
 * is resolved inside the machine root (never a host path through a symlink),
 * its symlinks, FIFOs, sockets and devices are reported once and never
 * opened, its files are not validated here (dpkg-deb would open them in
 * place: the importer validates its own private copy), and they carry the
 * machine's name so the importer accepts only bytes a verified package list
 * of the machine's codename names (mirror/machine-files.ts). Admin archives'
 * files are validated through a descriptor opened without following links or
 * blocking, with a deadline; a symlink leading out of its directory is
 * reported once and never read (safe-open.ts).
 *
 * This file is the wiring: chokidar and the timers. When a file is ready is
 * settle-queue.ts's (pure, clock-injected), which directories are watched
 * watched-dirs.ts's, a group's validation validate-group.ts's.
 */
import { watch, type FSWatcher } from 'chokidar';
import { promises as fsp } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { MachineDiscovery } from './machine-discovery.js';
import { statEntry } from './safe-open.js';
import { SettleQueue } from './settle-queue.js';
import { validateGroup } from './validate-group.js';
import type { ArchiveWatcher, ArchiveWatcherOptions, WatchedFile, WatchEvent } from './watch-types.js';
import { WatchedDirs } from './watched-dirs.js';

export { discoverMachineArchives, MACHINE_ARCHIVES, resolveMachineArchiveDir, type MachineArchive } from './machine-archives.js';

export type { ArchiveWatcher, ArchiveWatcherOptions, WatchedFile, WatchEvent } from './watch-types.js';

/** Files settled and valid, handed over batchMs after the first of them. */
class Batcher {
  private files = new Map<string, WatchedFile>();
  private timer: NodeJS.Timeout | undefined;
  constructor(private readonly batchMs: number, private readonly flush: (files: WatchedFile[]) => void) {}
  add(file: WatchedFile): void {
    this.files.set(`${file.codename}\0${file.path}`, file);
    this.timer ??= setTimeout(() => this.hand(), this.batchMs);
  }
  private hand(): void {
    this.timer = undefined;
    if (!this.files.size) return;
    const out = [...this.files.values()];
    this.files = new Map();
    this.flush(out);
  }
  stop(): void {
    clearTimeout(this.timer);
    this.files.clear();
  }
}

/** In slices: 20,000 concurrent stats would only queue up in libuv. */
async function inSlices<T>(items: readonly T[], fn: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += 256) await Promise.all(items.slice(i, i + 256).map(fn));
}

/** Starts watching; resolves once the initial scan (reconcile) has been queued. */
export async function startArchiveWatcher(opts: ArchiveWatcherOptions): Promise<ArchiveWatcher> {
  const emit = (e: WatchEvent) => opts.onEvent?.(e);
  let closed = false;
  const dirs = new WatchedDirs(opts.archives);
  const queue = new SettleQueue({ settleMs: opts.settleMs, concurrency: opts.concurrency ?? 2, groupSize: opts.validateMany ? 64 : 1, now: Date.now });
  const batch = new Batcher(opts.batchMs, (files) => {
    if (closed) return;
    emit({ event: 'batch', files: files.length });
    opts.onBatch(files);
  });
  let pollTimer: NodeJS.Timeout | undefined;
  let polling = false;
  const pollMs = Math.min(250, Math.max(50, Math.floor(opts.settleMs / 4)));

  // Directories only (see the header); they are added below, they may not exist yet.
  const files = watch([], {
    ignored: (path: string) => !dirs.has(path),
    depth: 0,
    usePolling: false,
    ignoreInitial: true,
    followSymlinks: false,
    ignorePermissionErrors: true,
    atomic: false,
  });

  /** Never follows a machine's symlinks, nor an admin archive's leading out of its directory (safe-open.ts). */
  const entryOf = (path: string) => statEntry(path, dirs.machineOfFile(path));
  const statOf = async (path: string) => (await entryOf(path)).st;

  const noteChange = async (path: string): Promise<void> => {
    // In validation: validateGroup itself notices a change made meanwhile.
    if (closed || !dirs.isTopLevelDeb(path) || queue.isQueued(path)) return;
    const { st, refused } = await entryOf(path);
    if (refused !== undefined) return void (queue.refuse(path, refused) && emit({ event: 'invalid', path, reason: refused }));
    if (!st) return queue.forget(path);
    const noted = queue.note(path, st);
    if (noted === 'ready') pump();
    else if (noted === 'settling') schedulePoll();
  };

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
    const passStart = Date.now();
    const entries = queue.settlingNow();
    for (let i = 0; i < entries.length && !closed; i += 256) {
      await Promise.all(entries.slice(i, i + 256).map(async ([path, seen]) => void (queue.recheck(path, seen, await statOf(path), passStart) === 'ready' && pump())));
    }
    polling = false;
    if (queue.settlingCount) schedulePoll(pollMs);
  };

  // With validateMany, a group is up to 64 files: one process for many files makes the start-up reconcile of a big cache cheap.
  const pump = () => {
    while (!closed) {
      const group = queue.take();
      if (!group) return;
      void validate(group).finally(() => {
        queue.done(group);
        pump();
      });
    }
  };

  const validate = async (paths: string[]) => {
    const outcomes = await validateGroup(paths, {
      statOf,
      notInPlace: (p) => dirs.machineOfFile(p) !== undefined,
      validation: { ...opts, timeoutMs: opts.validateTimeoutMs },
    });
    for (const o of outcomes) {
      if (closed || o.outcome === 'gone') continue;
      // Written to while we validated: settle again (once it is out of the queue).
      if (o.outcome === 'changed') {
        setImmediate(() => void noteChange(o.path));
        continue;
      }
      queue.decide(o.path, o.st);
      if (o.verdict !== true) {
        emit({ event: 'invalid', path: o.path, reason: o.verdict });
        continue;
      }
      const machine = dirs.machineOfFile(o.path);
      for (const codename of dirs.codenamesOfFile(o.path)) {
        emit({ event: 'settled', path: o.path, codename });
        batch.add(machine === undefined ? { path: o.path, codename } : { path: o.path, codename, machine });
      }
    }
  };

  // The directory's inotify events: 'rename' (created, moved in or out, deleted) or 'change' (written).
  files.on('raw', (_event, name, details) => {
    const dir = (details as { watchedPath?: unknown }).watchedPath;
    if (typeof dir === 'string' && typeof name === 'string' && dirs.has(dir)) void noteChange(join(dir, name));
  });
  files.on('error', (err) => emit({ event: 'error', message: err instanceof Error ? err.message : String(err) }));

  /** Lists a directory: what arrived while we were down, or what an event storm hid. */
  let listed = 0;
  const list = async (path: string): Promise<void> => {
    const names = await fsp.readdir(path).catch(() => [] as string[]);
    const debs = names.map((n) => join(path, n)).filter((p) => dirs.isTopLevelDeb(p));
    listed += debs.length;
    await inSlices(debs, noteChange);
  };

  /** Arms inotify on an existing directory first, then lists it, so nothing falls in between. */
  const arm = async (path: string): Promise<void> => {
    const st = await fsp.stat(path).catch(() => undefined);
    if (!st?.isDirectory()) return void dirs.missing.add(path);
    dirs.missing.delete(path);
    files.add(path);
    // chokidar arms fs.watch asynchronously; list only once it is in place.
    for (let i = 0; i < 100 && files.getWatched()[path] === undefined && !closed; i++) await new Promise((r) => setTimeout(r, 20));
    await list(path);
  };

  const addDir = async (dir: string, codename: string) => (dirs.add(dir, codename) ? arm(resolve(dir)) : undefined);

  const removeDir = (dir: string) => {
    const path = dirs.remove(dir);
    files.unwatch(path);
    queue.forgetWhere((p) => dirname(p) === path);
  };

  // ---- machines built by nspawn-kit ----
  let machineWatcher: FSWatcher | undefined;
  const machinesDir = opts.machinesDir ? resolve(opts.machinesDir) : undefined;
  const discovery = machinesDir && new MachineDiscovery({ machinesDir, onRefused: (machine, reason) => emit({ event: 'machine-refused', machine, reason }) });
  const watchMachinesDir = async (dir: string) => {
    if (machineWatcher || !(await fsp.stat(dir).catch(() => undefined))?.isDirectory()) return;
    // depth 0: only machines appearing or disappearing; never recurse into their roots.
    machineWatcher = watch(dir, {
      depth: 0,
      usePolling: false,
      ignoreInitial: true,
      followSymlinks: false,
      ignored: (path, stats) => path !== dir && (dirname(path) !== dir || (stats !== undefined && !stats.isDirectory())),
    });
    machineWatcher.on('addDir', () => void requestRescan());
    machineWatcher.on('unlinkDir', () => void requestRescan());
  };
  const rescan = async () => {
    if (closed) return;
    for (const path of [...dirs.missing]) await arm(path);
    if (!machinesDir || !discovery) return;
    await watchMachinesDir(machinesDir);
    const { removed, added } = await discovery.rescan();
    for (const m of removed) {
      if (!dirs.isConfigured(m.path)) removeDir(m.path);
      emit({ event: 'machine-removed', machine: m.machine, dir: m.path });
    }
    for (const m of added) {
      if (closed) return;
      emit({ event: 'machine-added', machine: m.machine, codename: m.codename, dir: m.path });
      dirs.claimForMachine(m.path, m.machine);
      await addDir(m.path, m.codename);
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

  for (const a of opts.archives) await addDir(a.path, a.codename);
  await requestRescan();
  // Machines whose provenance is written after their directory appears, and
  // archive directories created after start, are found by this slow rescan.
  const rescanTimer = setInterval(() => void requestRescan(), opts.machineRescanMs ?? 5000);
  const reconcileTimer = setInterval(() => {
    rescanning = rescanning.then(async () => {
      for (const dir of dirs.paths()) if (!dirs.missing.has(dir)) await list(dir);
    });
  }, opts.reconcileMs ?? 600_000);
  emit({ event: 'ready', dirs: dirs.size(), files: listed });

  return {
    dirs: () => dirs.archives(),
    async close() {
      closed = true;
      batch.stop();
      clearTimeout(pollTimer);
      clearInterval(rescanTimer);
      clearInterval(reconcileTimer);
      await rescanning;
      await Promise.all([files.close(), machineWatcher?.close()]);
    },
  };
}
