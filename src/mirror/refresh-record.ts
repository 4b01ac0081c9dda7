/**
 * When the last refresh ran and how it ended, for `status`:
 * <stateDir>/mirror/last-refresh.json, written (atomically, through the
 * Shell) at the end of every refresh, whatever ran it (the command, the
 * nightly hook, the daemon): ok (no problem: `mirror refresh` exits 0), or
 * not, with its first problem: one the refresh collected while it ran to the
 * end (a rejected file, a recipe that failed to warm), or the error that
 * stopped it. A dry run records nothing.
 *
 * The file is ours, but status reads it as it reads any state file: no link
 * followed, no blocking open, a regular file, a bounded size, every field
 * checked; a bad record is reported as such, never believed.
 */
import { join } from 'node:path';
import type { Config } from '../config/types.js';
import { NspawnKitError, formatError } from '../errors.js';
import { readJsonRecord } from '../safe-file.js';
import type { MirrorContext } from './context.js';
import { mirrorLayout } from './layout.js';

export interface RefreshRecord {
  version: 1;
  /** When it ended (ISO-8601). */
  at: string;
  startedAt: string;
  /** It ran to the end without a problem (`mirror refresh` exit 0). */
  ok: boolean;
  /** It ran to the end (published), problems or not; false: an error stopped it. */
  finished: boolean;
  /** Problems it collected (the error that stopped it counts as one). */
  problems: number;
  /** Its first problem, or the error that stopped it. */
  problem?: string;
  durationMs: number;
}

/** The record's bound on disk; a problem is cut to PROBLEM_MAX characters when written. */
const MAX_BYTES = 16 * 1024;
const PROBLEM_MAX = 2000;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;

export function refreshRecordPath(config: Pick<Config, 'stateDir' | 'mirror'>): string {
  return join(mirrorLayout(config).state, 'last-refresh.json');
}

const cut = (text: string) => (text.length > PROBLEM_MAX ? `${text.slice(0, PROBLEM_MAX - 1)}…` : text);

/** Runs one refresh and records how it ended; the refresh's own result or error is passed through unchanged. */
export async function recordedRefresh<T extends { problems: string[] }>(ctx: MirrorContext, run: () => Promise<T>): Promise<T> {
  const started = new Date();
  const record = (fields: Pick<RefreshRecord, 'finished' | 'problems' | 'problem'>) => writeRefreshRecord(ctx, started, fields);
  let result: T;
  try {
    result = await run();
  } catch (err) {
    // Ours: the message and its hint; anything else: its message (a stack trace is no outcome).
    await record({ finished: false, problems: 1, problem: err instanceof NspawnKitError ? formatError(err) : err instanceof Error ? err.message : String(err) });
    throw err;
  }
  const first = result.problems[0];
  await record({ finished: true, problems: result.problems.length, ...(first !== undefined ? { problem: first } : {}) });
  return result;
}

async function writeRefreshRecord(ctx: MirrorContext, started: Date, fields: Pick<RefreshRecord, 'finished' | 'problems' | 'problem'>): Promise<void> {
  if (ctx.sh.dryRun) return;
  const end = new Date();
  const rec: RefreshRecord = {
    version: 1,
    at: end.toISOString(),
    startedAt: started.toISOString(),
    ok: fields.finished && fields.problems === 0,
    finished: fields.finished,
    problems: fields.problems,
    ...(fields.problem !== undefined ? { problem: cut(fields.problem) } : {}),
    durationMs: end.getTime() - started.getTime(),
  };
  const path = refreshRecordPath(ctx.config);
  try {
    await ctx.sh.writeFile(path, `${JSON.stringify(rec, null, 2)}\n`, 0o644);
  } catch (err) {
    // The refresh itself is done (or already failing): a full disk here costs only the record.
    ctx.log?.(`refresh: could not record its outcome in ${path}: ${formatError(err)}`);
  }
}

/** A record, every field checked (a hand edit or a damaged file is refused, not half-believed). */
export function parseRefreshRecord(value: unknown): RefreshRecord | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a JSON object';
  const v = value as Record<string, unknown>;
  const problems: string[] = [];
  const known = new Set(['version', 'at', 'startedAt', 'ok', 'finished', 'problems', 'problem', 'durationMs']);
  for (const k of Object.keys(v)) if (!known.has(k)) problems.push(`unknown field ${JSON.stringify(k).slice(0, 80)}`);
  if (v.version !== 1) problems.push('version: expected 1');
  for (const k of ['at', 'startedAt'] as const) {
    const t = v[k];
    if (typeof t !== 'string' || !ISO.test(t) || Number.isNaN(Date.parse(t))) problems.push(`${k}: expected an ISO-8601 UTC time`);
  }
  if (typeof v.ok !== 'boolean') problems.push('ok: expected true or false');
  if (typeof v.finished !== 'boolean') problems.push('finished: expected true or false');
  if (v.ok === true && (v.finished !== true || v.problems !== 0 || v.problem !== undefined)) problems.push('ok: true with a problem');
  if (v.ok === false && v.problem === undefined) problems.push('problem: missing where ok is false');
  if (!Number.isSafeInteger(v.problems) || (v.problems as number) < 0) problems.push('problems: expected a count');
  if (v.problem !== undefined && (typeof v.problem !== 'string' || v.problem.length > PROBLEM_MAX)) problems.push(`problem: expected a text of at most ${PROBLEM_MAX} characters`);
  if (typeof v.durationMs !== 'number' || !Number.isFinite(v.durationMs) || v.durationMs < 0) problems.push('durationMs: expected a duration');
  if (problems.length) return problems.join('; ');
  return {
    version: 1,
    at: v.at as string,
    startedAt: v.startedAt as string,
    ok: v.ok as boolean,
    finished: v.finished as boolean,
    problems: v.problems as number,
    ...(v.problem !== undefined ? { problem: v.problem as string } : {}),
    durationMs: v.durationMs as number,
  };
}

/** The last refresh: its record, none (never recorded), or why the file cannot be believed. */
export async function readRefreshRecord(config: Pick<Config, 'stateDir' | 'mirror'>): Promise<{ record?: RefreshRecord; error?: string }> {
  const path = refreshRecordPath(config);
  return readJsonRecord(path, MAX_BYTES, parseRefreshRecord);
}
