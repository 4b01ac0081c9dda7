/**
 * Progress with totals, and the event lines of `--json`. Long stages (warm's
 * downloads, debootstrap's unpack/configure, import's validation) report
 * ProgressEvents to a ProgressSink (Shell.progress); what the user sees depends
 * on where the output goes:
 *
 * - in a terminal, a listr2 task shows the latest one as its output line;
 * - without a terminal, a plain line on stderr, at most every few seconds per
 *   stage, plus the last one (done === total);
 * - under --json, one JSON object per line on stderr, `{"event":"progress",…}`,
 *   throttled the same way. Under --json every stderr line is such an object:
 *   `log` for a status line, `progress`, and `error` (errorJson, errors.ts) last.
 *
 * stdout carries only the command's data (one JSON document under --json).
 */
import { jsonText, logToStderr, writeLines } from './escape.js';

export interface ProgressEvent {
  /** What is progressing: "download bookworm", "unpack", "validate". */
  stage: string;
  /** Items done, and out of how many when known. */
  done: number;
  total?: number;
  /** What the items are: "packages", "files". */
  unit: string;
  /** For downloads: bytes done, and out of how many when known. */
  bytes?: number;
  totalBytes?: number;
}

export type ProgressSink = (event: ProgressEvent) => void;

/** An event with its rate and time left, measured from the stage's first event. */
export interface ProgressReport extends ProgressEvent {
  elapsedMs: number;
  /** Bytes per second for downloads, else items per second (undefined until something is done). */
  rate?: number;
  /** Seconds left at that rate, when the total is known. */
  etaSeconds?: number;
}

export function measure(event: ProgressEvent, startedAt: number, now = Date.now()): ProgressReport {
  const elapsedMs = Math.max(0, now - startedAt);
  const byBytes = event.bytes !== undefined;
  const doneAmount = byBytes ? (event.bytes ?? 0) : event.done;
  const totalAmount = byBytes ? event.totalBytes : event.total;
  const rate = elapsedMs > 0 && doneAmount > 0 ? doneAmount / (elapsedMs / 1000) : undefined;
  const etaSeconds = rate && totalAmount !== undefined ? Math.max(0, Math.round((totalAmount - doneAmount) / rate)) : undefined;
  return { ...event, elapsedMs, rate, etaSeconds };
}

const MiB = 1024 * 1024;

function mib(bytes: number): string {
  return (bytes / MiB).toFixed(1);
}

function duration(seconds: number): string {
  return seconds < 90 ? `${seconds} s` : `${Math.floor(seconds / 60)} min ${String(seconds % 60).padStart(2, '0')} s`;
}

/** "download bookworm: 12/120 packages, 3.4/73.3 MiB, 2.1 MiB/s, 33 s left" */
export function formatProgress(r: ProgressReport): string {
  const parts = [`${r.done}${r.total !== undefined ? `/${r.total}` : ''} ${r.unit}`];
  if (r.bytes !== undefined) parts.push(`${mib(r.bytes)}${r.totalBytes !== undefined ? `/${mib(r.totalBytes)}` : ''} MiB`);
  if (r.rate !== undefined) parts.push(r.bytes !== undefined ? `${mib(r.rate)} MiB/s` : `${r.rate.toFixed(1)} ${r.unit}/s`);
  if (r.etaSeconds !== undefined && !(r.total !== undefined && r.done >= r.total)) parts.push(`${duration(r.etaSeconds)} left`);
  return `${r.stage}: ${parts.join(', ')}`;
}

/**
 * A sink that measures every event and passes it on at most every
 * `intervalMs` per stage; a stage's first event and its last (done === total)
 * always pass.
 */
export function throttledProgress(write: (r: ProgressReport) => void, intervalMs = 2000, now: () => number = Date.now): ProgressSink {
  const stages = new Map<string, { startedAt: number; lastAt?: number; lastDone: number; finished: boolean }>();
  return (event) => {
    const t = now();
    let s = stages.get(event.stage);
    // A stage name seen again (the daemon's next import, a second warm) is a new run once the last one
    // finished or the count starts over: its rate and time left are measured from now.
    if (!s || s.finished || event.done < s.lastDone) stages.set(event.stage, (s = { startedAt: t, lastDone: 0, finished: false }));
    s.lastDone = event.done;
    const last = event.total !== undefined && event.done >= event.total;
    if (!last && s.lastAt !== undefined && t - s.lastAt < intervalMs) return;
    s.lastAt = t;
    s.finished = last;
    write(measure(event, s.startedAt, t));
  };
}

/** One `--json` event line on stderr: `{"event":NAME,…}`. */
export function writeEvent(event: string, fields: Record<string, unknown>): void {
  writeLines(process.stderr, jsonText({ event, ...fields }));
}

export interface OutputSinks {
  log: (line: string) => void;
  progress: ProgressSink;
}

/** The status-line and progress sinks of an entry point: plain lines on stderr, or JSON event lines under --json. */
export function outputSinks(opts: { json?: boolean; intervalMs?: number } = {}): OutputSinks {
  if (opts.json) {
    return {
      log: (message) => writeEvent('log', { message }),
      progress: throttledProgress((r) => writeEvent('progress', { ...r }), opts.intervalMs),
    };
  }
  return { log: logToStderr, progress: throttledProgress((r) => logToStderr(formatProgress(r)), opts.intervalMs) };
}
