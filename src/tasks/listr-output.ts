/**
 * Where a task graph's output goes, by the output contract (stdout is the
 * command's data only): listr2's renderers write to stderr, never stdout;
 * under --json listr2 is silent and each stage reports itself as
 * `{"event":"stage",…}` lines on stderr; a stage's progress (Shell.progress)
 * becomes its task's output line in a terminal, throttled plain lines without
 * one (the entry point's sink), and progress events under --json.
 */
import { LISTR_LOGGER_STDERR_LEVELS, ListrLogger, ProcessOutput } from 'listr2';
import type { AppContext } from '../context.js';
import { formatProgress, throttledProgress, writeEvent, type ProgressSink } from '../progress.js';

/** A listr2 logger whose "stdout" is stderr too (a renderer draws and logs there). */
export function stderrLogger(levelsToStderr: boolean): ListrLogger {
  // Both streams of the ProcessOutput are stderr: hijacking it twice is harmless (each keeps the original write).
  const processOutput = new ProcessOutput(process.stderr, process.stderr);
  return new ListrLogger({ useIcons: true, toStderr: levelsToStderr ? LISTR_LOGGER_STDERR_LEVELS : [], processOutput });
}

/** Line output (listr2's simple renderer): no terminal on stdout or stderr, --verbose, --dry-run (every planned command printed), or CI. */
export function lineMode(app: AppContext): boolean {
  return !process.stdout.isTTY || !process.stderr.isTTY || Boolean(app.opts.verbose) || Boolean(app.opts.dryRun) || process.env.CI === 'true';
}

/** How often a terminal's task line shows a new progress report. */
const TTY_PROGRESS_MS = 250;

/**
 * The log and progress sinks of one stage's Shell. `setOutput` sets the
 * listr2 task's output line; undefined progress: the entry point's own sink
 * (throttled plain lines, or JSON events under --json).
 */
export function stageSinks(app: AppContext, title: string, setOutput: (line: string) => void): { log: (line: string) => void; progress?: ProgressSink } {
  if (app.opts.json) return { log: (message) => writeEvent('log', { stage: title, message }) };
  if (lineMode(app)) return { log: setOutput };
  return { log: setOutput, progress: throttledProgress((r) => setOutput(formatProgress(r)), TTY_PROGRESS_MS) };
}

export type StageState = 'started' | 'completed' | 'failed' | 'skipped';

/** One `{"event":"stage",…}` line under --json (nothing otherwise: a renderer shows the stage). */
export function stageEvent(app: AppContext, title: string, state: StageState, fields: Record<string, unknown> = {}): void {
  if (app.opts.json) writeEvent('stage', { title, state, ...fields });
}
