/**
 * V8 settings for the long-running verbs (`watch`, `daemon`, `schedule`),
 * applied by the bin (cli.ts) before the program's modules are loaded.
 *
 * V8's defaults size the heap and the JIT for throughput. This process
 * mostly waits: on inotify, on dpkg-deb, apt-ftparchive and gpg. Measured
 * with `nspawn-kit watch` reconciling 5,000 files at start (each validated,
 * then imported and published): 128 MB peak RSS, of which ~45 MB was heap
 * headroom (live heap ~20 MB) and ~15 MB the optimizing compiler.
 *
 * - `--semi-space-growth-factor=1`: the young generation keeps its initial
 *   2 x 1 MiB instead of doubling up to 2 x 16 MiB once enough objects
 *   survive a scavenge (they always do, over a long reconcile).
 * - `--optimize-for-size`: V8's low-memory mode: the old generation's limit
 *   is raised in small steps above the live size, so it is collected sooner.
 * - `--heap-growing-percent=20`: after a full collection the old
 *   generation may grow to 1.2x what survived before the next one (V8's
 *   heuristic allows up to 2x in low-memory mode): more collections, a
 *   lower peak; the maximum size is untouched.
 * - `--no-turbofan`, `--no-maglev`: no optimizing JIT. Its code (paged in
 *   from the node binary) and its compile zones (malloc'ed in V8's worker
 *   threads, never given back) cost ~15 MB; the interpreter and the
 *   baseline compiler (Sparkplug) run this process's little JS fast enough
 *   (latency from a new .deb to the signed index is unchanged).
 *
 * V8 reads each of them when it decides (to grow the young generation, to
 * set the old generation's limit, to optimize a function), so setting them
 * here applies to whatever started the CLI (a shell, the systemd unit, a
 * supervisor): no re-exec, no NODE_OPTIONS. None lowers a limit: the maximum
 * heap size stays V8's default, so a large pool cannot run out of memory
 * because of them; they trade some CPU for memory. Other verbs (a one-off
 * publish of a big pool, say) keep V8's defaults.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Verbs that run until stopped. */
export const LONG_RUNNING = new Set(['daemon', 'watch', 'schedule']);

export const LONG_RUNNING_V8_FLAGS = ['--semi-space-growth-factor=1', '--optimize-for-size', '--heap-growing-percent=20', '--no-turbofan', '--no-maglev'] as const;

/** The subcommand in argv (global options come before it; only -c/--config takes a separate value). */
export function verbOf(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (a === '--') return argv[i + 1];
    if (a === '-c' || a === '--config') {
      i++;
      continue;
    }
    if (!a.startsWith('-')) return a;
  }
  return undefined;
}

/** Applies the flags when argv names a long-running verb; true if it did. */
export function tuneHeapFor(argv: readonly string[]): boolean {
  if (!LONG_RUNNING.has(verbOf(argv) ?? '')) return false;
  for (const flag of LONG_RUNNING_V8_FLAGS) setFlagsFromString(flag);
  return true;
}

let fullGc: (() => void) | null | undefined;

/**
 * A full collection, run by the daemon after each import+publish run: a run
 * of a big reconcile reads, parses and rewrites the import cache (~3.6 MB of
 * JSON at 20,000 files), and without it the garbage of one run was still in
 * the heap when the next run built its own, which set the process's peak.
 * `--expose-gc` set at run time makes `gc` available to new contexts only,
 * hence runInNewContext. Returns false where V8 refuses (then it is a no-op).
 */
export function collectBetweenRuns(): boolean {
  if (fullGc === undefined) {
    try {
      setFlagsFromString('--expose-gc');
      const fn: unknown = runInNewContext('gc');
      fullGc = typeof fn === 'function' ? (fn as () => void) : null;
    } catch {
      fullGc = null;
    }
  }
  fullGc?.();
  return fullGc !== null;
}
