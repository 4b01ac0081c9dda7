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
 * own /var/cache/apt/archives watched too, filed under their codename. Root
 * inside a machine controls that directory: it is resolved inside the machine
 * root (never a host path through a symlink), its symlinked files are not
 * followed, and its files carry the machine's name so the importer accepts
 * only bytes a verified package list names (mirror/trusted-index.ts).
 */
import { watch, type FSWatcher } from 'chokidar';
import { promises as fsp } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { Archive } from '../config/types.js';
import { resolveInRoot } from '../machine/inject.js';
import { PROVENANCE } from '../machine/paths.js';

export interface WatchedFile {
  path: string;
  codename: string;
  /** The machine whose apt cache holds the file (root in that machine wrote it); absent for mirror.archives. */
  machine?: string;
}

/** A machine's archive directory, resolved inside its root. */
export interface MachineArchive extends Archive {
  machine: string;
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
  /** true if the file is a complete, valid .deb; a string says why not. */
  validate: (path: string) => Promise<true | string>;
  /** Validates many files in one go (same verdicts, in order); used instead of validate when given. */
  validateMany?: (paths: string[]) => Promise<(true | string)[]>;
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

  const noteChange = async (path: string): Promise<void> => {
    // In validation: validateGroup itself notices a change made meanwhile.
    if (closed || !isTopLevelDeb(path) || queued.has(path)) return;
    // A machine's cache is written by root inside the machine: its symlinks are never followed.
    const inMachine = machineOf.get(dirname(path));
    const st = await (inMachine ? fsp.lstat(path) : fsp.stat(path)).catch(() => undefined);
    if (!st) return forget(path);
    if (inMachine && st.isSymbolicLink() && decided.get(path) !== 'symlink') {
      decided.set(path, 'symlink');
      return emit({ event: 'invalid', path, reason: `symbolic link in the archive of machine ${inMachine} (not followed)` });
    }
    if (!st.isFile() || decided.get(path) === `${st.size}:${st.mtimeMs}`) return;
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
    const before = await Promise.all(paths.map((p) => fsp.stat(p).catch(() => undefined)));
    let verdicts: (true | string)[];
    try {
      verdicts = opts.validateMany ? await opts.validateMany(paths) : [await opts.validate(paths[0]!)];
    } catch (err) {
      verdicts = paths.map(() => (err instanceof Error ? err.message : String(err)));
    }
    for (const [i, path] of paths.entries()) {
      const after = await fsp.stat(path).catch(() => undefined);
      const was = before[i];
      if (!after || !was || closed) continue;
      if (after.size !== was.size || after.mtimeMs !== was.mtimeMs) {
        // Written to while we validated: settle again (after `queued` is cleared).
        setImmediate(() => void noteChange(path));
        continue;
      }
      decided.set(path, `${after.size}:${after.mtimeMs}`);
      const verdict = verdicts[i] ?? 'not validated';
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

/** Where apt inside a machine keeps its downloads (inside the machine's root). */
export const MACHINE_ARCHIVES = '/var/cache/apt/archives';

/**
 * The machine's archive directory seen from the host, every symlink resolved
 * INSIDE the machine root (an absolute link in the container means the
 * container's /, not the host's). Refused (with the reason) unless it exists,
 * is a directory and its real path stays under the machine root: root in the
 * container must not make the host daemon list, watch or import host directories.
 */
export async function resolveMachineArchiveDir(machinesDir: string, name: string): Promise<{ ok: true; path: string } | { ok: false; reason: string }> {
  const root = join(machinesDir, name);
  try {
    const realRoot = await fsp.realpath(root);
    const inRoot = await resolveInRoot(root, MACHINE_ARCHIVES);
    const real = await fsp.realpath(inRoot).catch(() => undefined);
    if (!real) {
      // Followed symlinks on the way: say so (a link to a host path is resolved in the machine, never on the host).
      if (inRoot !== join(realRoot, MACHINE_ARCHIVES)) return { ok: false, reason: `${MACHINE_ARCHIVES} is a symbolic link; inside the machine it leads to ${inRoot}, which does not exist (not followed on the host)` };
      return { ok: false, reason: `${MACHINE_ARCHIVES} does not exist yet` };
    }
    if (!real.startsWith(`${realRoot}/`)) return { ok: false, reason: `${MACHINE_ARCHIVES} leads outside the machine root (${real}); not watched` };
    if (!(await fsp.stat(real)).isDirectory()) return { ok: false, reason: `${MACHINE_ARCHIVES} is not a directory` };
    return { ok: true, path: real };
  } catch (err) {
    return { ok: false, reason: `${MACHINE_ARCHIVES} cannot be resolved (${err instanceof Error ? err.message : String(err)})` };
  }
}

/**
 * Machines nspawn-kit built under machinesDir: a directory (not hidden, so no
 * build in progress) whose root holds a PROVENANCE record with a codename,
 * and whose archive directory resolves inside its root (others go to refuse).
 */
export async function discoverMachineArchives(machinesDir: string, refuse?: (machine: string, reason: string) => void): Promise<Map<string, MachineArchive>> {
  const found = new Map<string, MachineArchive>();
  const entries = await fsp.readdir(machinesDir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
    const root = join(machinesDir, entry.name);
    const provenance = await resolveInRoot(root, PROVENANCE).catch(() => undefined);
    const codename = provenance ? await readProvenanceCodename(provenance) : undefined;
    if (!codename) continue;
    const dir = await resolveMachineArchiveDir(machinesDir, entry.name);
    if (dir.ok) found.set(entry.name, { path: dir.path, codename, machine: entry.name });
    else if (!dir.reason.endsWith('does not exist yet')) refuse?.(entry.name, dir.reason);
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
