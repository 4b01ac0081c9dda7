/**
 * `nspawn-kit daemon` (and `watch`, `schedule` alone): the archive watcher
 * and the nightly schedule in one process, sharing one coalescing runner and
 * the mirror lock, so a file event during a refresh never starts a parallel
 * run. SIGTERM/SIGINT stop it cleanly: no new runs, the run in progress
 * finishes (a second signal aborts it; the staged publish then leaves the
 * previous publication intact). One log line per event and run.
 */
import { claimSignals } from '../exit-hooks.js';
import { stopChildren } from '../children.js';

/** What stops the daemon (the first cleanly, the second aborting the run): every signal the entry points handle. */
const STOP_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;
import { readdir, realpath, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { Config } from '../config/types.js';
import type { MirrorContext } from '../mirror/context.js';
import { inspectDeb, inspectDebs, type DebInspection } from '../mirror/deb.js';
import { importFiles, type ImportReport } from '../mirror/import.js';
import { mirrorLayout, suiteListPath } from '../mirror/layout.js';
import { publishMirror, type PublishReport } from '../mirror/publish.js';
import { withMirrorWrite } from '../mirror/write-guard.js';
import { recordDaemon } from '../mirror/daemon-record.js';
import type { Shell } from '../shell.js';
import { createCoalescer } from './coalesce.js';
import { collectBetweenRuns } from './heap-tuning.js';
import { startSchedule, type Schedule } from './schedule.js';
import { discoverMachineArchives, startArchiveWatcher, type ArchiveWatcher, type WatchEvent, type WatchedFile } from './watch.js';
import { UsageError } from '../errors.js';
import { jsonText, logToStderr, writeLines } from '../escape.js';

export type EventLog = (event: string, fields?: Record<string, unknown>) => void;

/**
 * Where the event lines of `watch`/`daemon`/`schedule` go: under --json they
 * are the command's output, one JSON object per line on stdout (status lines
 * and progress stay on stderr as JSON events); otherwise the log sink (stderr).
 */
export function eventLineSink(json: boolean | undefined, log: (line: string) => void): (line: string) => void {
  return json ? (line) => writeLines(process.stdout, line) : log;
}

/** One line per event: "TIME event key=value ..." or, with json, a JSON object. */
export function createEventLog(write: (line: string) => void, json: boolean): EventLog {
  return (event, fields = {}) => {
    const time = new Date().toISOString();
    if (json) return write(jsonText({ time, event, ...fields }));
    // Quoted (JSON) when a value could be misread: a space, a quote, a backslash, a control or bidi character.
    const parts = Object.entries(fields).map(([k, v]) => `${k}=${typeof v === 'string' && !/[\s"\\\p{Cc}\p{Bidi_Control}]/u.test(v) ? v : JSON.stringify(v)}`);
    write([time, event, ...parts].join(' '));
  };
}

export interface DaemonOptions {
  config: Config;
  sh: Shell;
  /** `mirror refresh`: import every archive, publish, re-sign. */
  refresh: (signal: AbortSignal) => Promise<unknown>;
  /** Import these files and publish the suites that changed (see importAndPublish). */
  importAndPublish: (files: WatchedFile[], signal: AbortSignal) => Promise<unknown>;
  /** Default: full validation with dpkg-deb (the importer's own check). */
  validate?: (path: string, signal?: AbortSignal) => Promise<true | string>;
  /** Where log lines go (default: stderr). */
  log?: (line: string) => void;
  json?: boolean;
  /** Which parts run (default: both). */
  watch?: boolean;
  schedule?: boolean;
  /** Install SIGTERM/SIGINT handlers (default true; tests call stop()). */
  handleSignals?: boolean;
}

export interface Daemon {
  /** Ends the daemon; with abort, the run in progress is aborted instead of awaited. */
  stop(opts?: { abort?: boolean; reason?: string }): Promise<void>;
  /** Settles when the daemon has stopped. */
  readonly done: Promise<void>;
  /** Asks for a run (the CLI's "reindex now"); settles when a run including it ends. */
  trigger(payload: { refresh?: boolean; files?: WatchedFile[] }): Promise<void>;
  /** Resolves when no run is in progress or pending. */
  idle(): Promise<void>;
  readonly watcher: ArchiveWatcher | undefined;
}

interface Payload {
  refresh: boolean;
  files: Map<string, WatchedFile>;
}

const keyOf = (f: WatchedFile) => `${f.codename}\0${f.path}`;

export async function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  const write = opts.log ?? logToStderr;
  const log = createEventLog(write, opts.json ?? false);
  const { config, sh } = opts;
  const verdict = (r: DebInspection) => (r.ok ? (true as const) : r.reason);
  // A verdict only: the importer hashes the copy it validates again. The watcher hands over
  // /proc/<pid>/fd/<N> of a descriptor it opened safely (O_NOFOLLOW, regular file), and aborts the
  // signal at its deadline (the ar check follows such a link to our own descriptor, no other).
  const inspectOpts = (signal?: AbortSignal) => ({ architectures: config.mirror.architectures, hash: false, signal });
  const validate = opts.validate ?? (async (path: string, signal?: AbortSignal) => verdict(await inspectDeb(sh, path, inspectOpts(signal))));
  // The default validates in batches (one shell for many files); an injected validate is used as given.
  const validateMany = opts.validate ? undefined : async (paths: string[], signal?: AbortSignal) => (await inspectDebs(sh, paths, inspectOpts(signal))).map(verdict);

  const runner = createCoalescer<Payload>({
    // In place: the pending payload is the runner's own (each trigger makes a
    // new one), and copying it at every batch of a big reconcile is quadratic.
    merge: (a, b) => {
      for (const [k, f] of b.files) a.files.set(k, f);
      return { refresh: a.refresh || b.refresh, files: a.files };
    },
    onRunStart: ({ payload, run }) => log('run-start', { run, refresh: payload.refresh, files: payload.files.size }),
    onRunEnd: ({ error, run }) => {
      if (error === undefined) log('run-end', { run });
      else log('run-failed', { run, error: error instanceof Error ? error.message : String(error) });
      // The run's garbage goes before the next run (a reconcile's follow-up) adds its own.
      collectBetweenRuns();
    },
    run: (payload, signal) => {
      const work = async () => {
        if (payload.refresh) await opts.refresh(signal);
        signal.throwIfAborted();
        if (payload.files.size) await opts.importAndPublish([...payload.files.values()], signal);
      };
      // The daemon keeps its gpg-agent between runs; a dry run takes no lock (write-guard.ts).
      return withMirrorWrite({ sh, config, signal }, work, { purpose: 'the daemon (it writes the mirror)', stopAgent: false, onWait: (pid) => log('lock-wait', { holder: pid ?? null }) });
    },
  });
  const trigger = (p: { refresh?: boolean; files?: WatchedFile[] }) =>
    runner.trigger({ refresh: p.refresh ?? false, files: new Map((p.files ?? []).map((f) => [keyOf(f), f])) });

  let watcher: ArchiveWatcher | undefined;
  let schedule: Schedule | undefined;
  let stopping: Promise<void> | undefined;
  let forgetDaemon = async (): Promise<void> => undefined; // `status` reads the daemon's record (mirror/daemon-record.ts)
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));

  const onSignal = (sig: NodeJS.Signals) => {
    // First signal: finish the run in progress. Second: abort it.
    void stop({ abort: stopping !== undefined, reason: sig });
  };
  // Claimed from the entry point, which would otherwise stop every child and exit at once (exit-hooks.ts).
  let releaseSignals = (): void => {};
  const removeSignals = () => {
    releaseSignals();
    for (const sig of STOP_SIGNALS) process.off(sig, onSignal);
  };

  const stop = (o: { abort?: boolean; reason?: string } = {}): Promise<void> => {
    if (stopping) {
      if (o.abort) void runner.close({ abort: true });
      return stopping;
    }
    log('stopping', { reason: o.reason ?? 'stop', running: runner.running });
    stopping = (async () => {
      await watcher?.close();
      await schedule?.stop();
      await runner.close({ abort: o.abort ?? false });
      // The process is ending (the signals are ours): no tool of a run outlives it (children.ts).
      if (opts.handleSignals !== false) await stopChildren();
      await forgetDaemon();
      removeSignals();
      log('stopped');
      resolveDone();
    })();
    return stopping;
  };

  if (opts.handleSignals !== false) {
    releaseSignals = claimSignals();
    for (const sig of STOP_SIGNALS) process.on(sig, onSignal);
  }

  try {
    if (opts.watch !== false) {
      watcher = await startArchiveWatcher({
        archives: config.mirror.archives,
        machinesDir: config.machines.dir,
        settleMs: config.watch.settleMs,
        batchMs: config.watch.batchMs,
        validate,
        validateMany,
        onEvent: (e) => logWatchEvent(log, e),
        // Failures are logged by onRunEnd; the files come back at the next start's reconcile.
        onBatch: (files) => void trigger({ files }).catch(() => undefined),
      });
    }
    if (opts.schedule !== false) {
      schedule = await startSchedule({ config, sh, log, run: () => trigger({ refresh: true }) });
    }
  } catch (err) {
    await stop({ reason: 'start failed' });
    throw err;
  }
  forgetDaemon = await recordDaemon(sh, config, { watch: watcher !== undefined, schedule: schedule !== undefined }, (error) => log('daemon-record', { error }));
  log('daemon-ready', { watch: watcher !== undefined, schedule: schedule !== undefined, dirs: watcher?.dirs().length ?? 0 });
  return { stop, done, trigger, idle: () => runner.idle(), watcher };
}

/** Runs until SIGTERM/SIGINT (or stop()). */
export async function runDaemon(opts: DaemonOptions): Promise<void> {
  const daemon = await startDaemon(opts);
  await daemon.done;
}

/**
 * The watcher's production work: import the files (a machine's files only
 * when a list nspawn-kit verified names their bytes: see mirror/trusted-index.ts), then publish every suite
 * whose membership changed since its last publication. "Changed" also
 * covers an import whose publish was killed (the suite list is newer than
 * InRelease), so a restart after kill -9 republishes without clean-up.
 * The caller holds the mirror lock (the daemon's runner, the reindex hook).
 */
export async function importAndPublish(ctx: MirrorContext, files: WatchedFile[]): Promise<{ import: ImportReport; publish?: PublishReport }> {
  const imported = await importFiles(ctx, files);
  const codenames = [...new Set(files.map((f) => f.codename))];
  const changed: string[] = [];
  for (const c of codenames) if ((imported.addedToSuites[c] ?? 0) > 0 || (await suiteNewerThanPublication(ctx.config, c))) changed.push(c);
  ctx.signal?.throwIfAborted();
  if (ctx.sh.dryRun) {
    // The dry-run import wrote no suite lists: publish (dry) only suites that already have one.
    const listed: string[] = [];
    for (const c of changed) if (await stat(suiteListPath(mirrorLayout(ctx.config), c)).catch(() => undefined)) listed.push(c);
    for (const c of changed.filter((c) => !listed.includes(c))) ctx.log?.(`[dry-run] would publish ${c} after the import`);
    changed.splice(0, changed.length, ...listed);
  }
  if (!changed.length) return { import: imported };
  return { import: imported, publish: await publishMirror(ctx, { codenames: changed }) };
}

async function suiteNewerThanPublication(config: Config, codename: string): Promise<boolean> {
  const layout = mirrorLayout(config);
  const list = await stat(suiteListPath(layout, codename)).catch(() => undefined);
  if (!list) return false;
  const published = await stat(join(layout.dists, codename, 'InRelease')).catch(() => undefined);
  return !published || list.mtimeMs > published.mtimeMs;
}

/**
 * The files a one-shot reindex (hooks/reindex-on-deb.mjs) works on: each
 * path is a .deb or a directory of them (top level only); no paths means every
 * configured archive and every machine archive. A file is filed under
 * `codename`, else under the archive it lies in, else the host's codename.
 */
export async function reindexTargets(config: Config, paths: string[], codename?: string): Promise<WatchedFile[]> {
  const machineArchives = [...(await discoverMachineArchives(config.machines.dir)).values()];
  const archives = [...config.mirror.archives, ...machineArchives];
  const adminDirs = new Set(config.mirror.archives.map((a) => resolve(a.path)));
  // A file in a machine's cache (and not in a directory the admin configured) keeps its machine: it must pass the trust check.
  // Machine archive paths are real paths: compare real paths, so a symlink in the way hides no machine.
  const machinesDir = resolve(config.machines.dir);
  const machineOf = async (dir: string) => {
    if (adminDirs.has(dir)) return undefined;
    const real = await realpath(dir).catch(() => dir);
    const known = machineArchives.find((a) => a.path === real);
    if (known) return known;
    // Anything else under machines.dir (a cache that is refused as a watch root, say) is still written by a machine.
    const rel = relative(machinesDir, dir);
    const name = rel.split(sep)[0];
    return name && !rel.startsWith('..') && !isAbsolute(rel) ? { path: real, machine: name } : undefined;
  };
  const dirs = paths.length ? paths.map((p) => resolve(p)) : archives.map((a) => resolve(a.path));
  const codenamesOf = (dir: string) => {
    if (codename) return [codename];
    const known = archives.filter((a) => resolve(a.path) === dir).map((a) => a.codename);
    return known.length ? [...new Set(known)] : [config.host.codename];
  };
  const out: WatchedFile[] = [];
  for (const path of dirs) {
    const st = await stat(path).catch(() => undefined);
    if (!st) {
      if (paths.length) throw new UsageError(`${path}: no such file or directory`);
      continue;
    }
    const files = st.isDirectory()
      ? (await readdir(path, { withFileTypes: true })).filter((e) => e.isFile() && e.name.endsWith('.deb')).map((e) => join(path, e.name))
      : [path];
    for (const file of files) {
      if (!basename(file).endsWith('.deb')) throw new UsageError(`${file}: not a .deb file`);
      const dir = st.isDirectory() ? path : dirname(file);
      const m = await machineOf(dir);
      for (const c of codenamesOf(dir)) out.push(m === undefined ? { path: file, codename: c } : { path: join(m.path, basename(file)), codename: c, machine: m.machine });
    }
  }
  return out;
}

/** One reindex under the mirror-write guard (waits for a daemon run in progress; root; stops the gpg-agent after). */
export async function reindex(ctx: MirrorContext, paths: string[], codename?: string): Promise<Awaited<ReturnType<typeof importAndPublish>>> {
  const files = await reindexTargets(ctx.config, paths, codename);
  return withMirrorWrite(ctx, () => importAndPublish(ctx, files));
}

function logWatchEvent(log: EventLog, e: WatchEvent): void {
  const { event, ...fields } = e;
  log(event === 'settled' ? 'file' : event, fields);
}
