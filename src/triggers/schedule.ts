/**
 * The nightly refresh: node-cron runs it at schedule.refresh (in
 * schedule.timezone), and a run missed while the host was down runs at start.
 * The last attempt is recorded in <stateDir>/schedule.json.
 *
 * node-cron 4 knows the next run but not the previous one, so "was a run
 * missed?" steps back minute by minute from now to the last recorded attempt
 * (at most 8 days, enough for weekly schedules) and asks node-cron's own
 * matcher, so the expression and time zone are interpreted exactly as the
 * scheduler does. That costs ~20 us per minute stepped; no extra dependency.
 */
import cron, { type ScheduledTask } from 'node-cron';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cronExpression, timeZone } from '../config/schedule-format.js';
import type { Config } from '../config/types.js';
import { ConfigError } from '../errors.js';
import type { Shell } from '../shell.js';

export interface ScheduleState {
  /** When the schedule was first started on this host: no run is "missed" before it. */
  since: string;
  /** Start of the last attempted run (scheduled, caught up or manual), ISO-8601. */
  lastRun?: string;
  lastResult?: 'success' | 'failure';
  lastError?: string;
  lastReason?: RunReason;
}

export type RunReason = 'scheduled' | 'catch-up';

export const LOOKBACK_MINUTES = 8 * 24 * 60;

export function scheduleStatePath(config: Pick<Config, 'stateDir'>): string {
  return join(config.stateDir, 'schedule.json');
}

/**
 * Throws a ConfigError for a bad expression or time zone (both at once): the
 * same checks the schema applies at load (config/schedule-format.ts), again
 * for a schedule that did not come through it.
 */
export function checkSchedule(schedule: Config['schedule']): void {
  const problems: string[] = [];
  const badRefresh = cronExpression(schedule.refresh);
  if (badRefresh) problems.push(`schedule.refresh: ${badRefresh} (got ${JSON.stringify(schedule.refresh)})`);
  const badZone = schedule.timezone === undefined ? undefined : timeZone(schedule.timezone);
  if (badZone) problems.push(`schedule.timezone: ${badZone} (got ${JSON.stringify(schedule.timezone)})`);
  if (problems.length) throw new ConfigError(problems);
}

/**
 * The latest time <= `before` matching the expression, looking back no
 * further than `notBefore` or LOOKBACK_MINUTES; undefined if none.
 */
export function previousOccurrence(expression: string, timezone: string | undefined, before: Date, notBefore?: Date): Date | undefined {
  const matcher = cron.createTask(expression, () => undefined, { timezone });
  try {
    const seconds = [...cron.parse(expression).second].sort((a, b) => b - a);
    const startMinute = Math.floor(before.getTime() / 60000) * 60000;
    const floor = Math.max(notBefore?.getTime() ?? -Infinity, startMinute - LOOKBACK_MINUTES * 60000);
    for (let minute = startMinute; minute >= floor - 60000; minute -= 60000) {
      for (const s of seconds) {
        const t = minute + s * 1000;
        if (t > before.getTime() || t < floor) continue;
        if (matcher.match(new Date(t))) return new Date(t);
      }
    }
    return undefined;
  } finally {
    void matcher.destroy();
  }
}

/** A run is overdue when a scheduled time passed after the last attempt (or after `since`). */
export function overdueSince(expression: string, timezone: string | undefined, state: ScheduleState, now: Date): Date | undefined {
  const lastRun = state.lastRun ? new Date(state.lastRun) : undefined;
  const since = new Date(state.since);
  const after = lastRun && lastRun > since ? lastRun : since;
  if (Number.isNaN(after.getTime())) return undefined;
  const prev = previousOccurrence(expression, timezone, now, new Date(after.getTime() + 1));
  return prev && prev > after ? prev : undefined;
}

export async function readScheduleState(path: string): Promise<ScheduleState | undefined> {
  try {
    const data = JSON.parse(await readFile(path, 'utf8')) as Partial<ScheduleState>;
    return typeof data.since === 'string' ? (data as ScheduleState) : undefined;
  } catch {
    return undefined;
  }
}

export interface ScheduleOptions {
  config: Pick<Config, 'stateDir' | 'schedule'>;
  sh: Shell;
  /** Runs the refresh (in the daemon: through the coalescing runner, under the lock). */
  run: (reason: RunReason) => Promise<void>;
  log?: (event: string, fields: Record<string, unknown>) => void;
  now?: () => Date;
}

export interface Schedule {
  /** The catch-up run started at start, if one was overdue (settles when it ends). */
  readonly catchUp: Promise<void> | undefined;
  nextRun(): Date | null;
  stop(): Promise<void>;
}

/** Starts the cron task; runs a missed refresh now if one is overdue. */
export async function startSchedule(opts: ScheduleOptions): Promise<Schedule> {
  const { schedule } = opts.config;
  checkSchedule(schedule);
  const now = opts.now ?? (() => new Date());
  const path = scheduleStatePath(opts.config);
  let state = (await readScheduleState(path)) ?? { since: now().toISOString() };
  // Record `since` at once so a host that goes down before the first run still catches up.
  await opts.sh.mkdir(opts.config.stateDir);
  await opts.sh.writeFile(path, `${JSON.stringify(state, null, 2)}\n`);

  const attempt = async (reason: RunReason): Promise<void> => {
    const started = now();
    opts.log?.('schedule-run', { reason });
    try {
      await opts.run(reason);
      state = { ...state, lastRun: started.toISOString(), lastResult: 'success', lastReason: reason };
      delete state.lastError;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      state = { ...state, lastRun: started.toISOString(), lastResult: 'failure', lastError: message, lastReason: reason };
      opts.log?.('schedule-failed', { reason, error: message });
    }
    try {
      await opts.sh.writeFile(path, `${JSON.stringify(state, null, 2)}\n`);
    } catch (err) {
      opts.log?.('schedule-warning', { message: `cannot record the run in ${path}: ${err instanceof Error ? err.message : String(err)}` });
    }
  };
  // Runs in flight, so stop() can wait for them (a run must not outlive its schedule).
  const inflight = new Set<Promise<void>>();
  const track = (p: Promise<void>): Promise<void> => {
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
    return p;
  };

  const task: ScheduledTask = cron.schedule(schedule.refresh, () => track(attempt('scheduled')), {
    timezone: schedule.timezone,
    name: 'nspawn-kit-refresh',
    // The coalescing runner already serialises runs; this keeps node-cron from queueing its own.
    noOverlap: true,
    logger: {
      info: () => undefined,
      debug: () => undefined,
      warn: (message) => opts.log?.('schedule-warning', { message }),
      error: (message) => opts.log?.('schedule-warning', { message: String(message) }),
    },
  });

  const missed = overdueSince(schedule.refresh, schedule.timezone, state, now());
  let catchUp: Promise<void> | undefined;
  if (missed) {
    opts.log?.('schedule-missed', { scheduled: missed.toISOString(), lastRun: state.lastRun ?? null });
    catchUp = track(attempt('catch-up'));
  }
  opts.log?.('schedule-ready', { expression: schedule.refresh, timezone: schedule.timezone ?? null, next: task.getNextRun()?.toISOString() ?? null });

  return {
    catchUp,
    nextRun: () => task.getNextRun(),
    async stop() {
      await task.stop();
      await task.destroy();
      await Promise.allSettled([...inflight]);
    },
  };
}
