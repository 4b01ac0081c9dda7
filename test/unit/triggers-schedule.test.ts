import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError } from '../../src/errors.js';
import { Shell } from '../../src/shell.js';
import {
  checkSchedule,
  overdueSince,
  previousOccurrence,
  scheduleStatePath,
  startSchedule,
  type RunReason,
  type ScheduleState,
} from '../../src/triggers/schedule.js';

const sh = new Shell();
let base = '';
test.before(async () => {
  base = await mkdtemp(join(tmpdir(), 'nk-schedule-'));
});
test.after(async () => {
  await rm(base, { recursive: true, force: true });
});

test('previousOccurrence: daily at 03:17, in UTC and in a time zone', () => {
  const now = new Date('2026-06-10T12:00:30Z');
  assert.equal(previousOccurrence('17 3 * * *', 'UTC', now), new Date('2026-06-10T03:17:00Z'));
  // Berlin is UTC+2 in June: 03:17 local is 01:17 UTC.
  assert.equal(previousOccurrence('17 3 * * *', 'Europe/Berlin', now), new Date('2026-06-10T01:17:00Z'));
  // Just before today's run: yesterday's.
  assert.equal(previousOccurrence('17 3 * * *', 'UTC', new Date('2026-06-10T03:16:59Z')), new Date('2026-06-09T03:17:00Z'));
  // Weekly (Mondays); 2026-06-10 is a Wednesday.
  assert.equal(previousOccurrence('0 4 * * 1', 'UTC', now), new Date('2026-06-08T04:00:00Z'));
  // Not within the look-back bound.
  assert.is(previousOccurrence('17 3 * * *', 'UTC', now, new Date('2026-06-10T04:00:00Z')), undefined);
});

test('overdueSince: a run missed after the last attempt is overdue; one already made is not', () => {
  const now = new Date('2026-06-10T12:00:00Z');
  const expr = '17 3 * * *';
  const ran = (lastRun: string): ScheduleState => ({ since: '2026-01-01T00:00:00Z', lastRun });
  assert.equal(overdueSince(expr, 'UTC', ran('2026-06-08T03:17:02Z'), now), new Date('2026-06-10T03:17:00Z'));
  assert.is(overdueSince(expr, 'UTC', ran('2026-06-10T03:17:00Z'), now), undefined);
  // Never ran, but the schedule was set up before the last occurrence: missed.
  assert.ok(overdueSince(expr, 'UTC', { since: '2026-06-09T20:00:00Z' }, now));
  // Set up after it: nothing missed yet.
  assert.is(overdueSince(expr, 'UTC', { since: '2026-06-10T05:00:00Z' }, now), undefined);
});

test('checkSchedule reports a bad expression and a bad time zone together', () => {
  try {
    checkSchedule({ refresh: '61 * * * *', timezone: 'Mars/Olympus' });
    assert.unreachable();
  } catch (err) {
    assert.instance(err, ConfigError);
    const problems = (err as ConfigError).problems;
    assert.is(problems.length, 2);
    assert.match(problems[0]!, /^schedule\.refresh/);
    assert.match(problems[1]!, /^schedule\.timezone/);
  }
  checkSchedule({ refresh: '17 3 * * *', timezone: 'Europe/Berlin' });
});

async function stateDir(name: string, state?: ScheduleState): Promise<string> {
  const dir = join(base, name);
  await mkdir(dir, { recursive: true });
  if (state) await writeFile(scheduleStatePath({ stateDir: dir }), JSON.stringify(state));
  return dir;
}

test('a run missed while the host was down runs once at start and is recorded', async () => {
  const now = new Date();
  const dir = await stateDir('missed', { since: '2020-01-01T00:00:00Z', lastRun: new Date(now.getTime() - 3 * 86400_000).toISOString() });
  const runs: RunReason[] = [];
  const s = await startSchedule({ config: { stateDir: dir, schedule: { refresh: '17 3 * * *' } }, sh, run: async (r) => void runs.push(r) });
  try {
    assert.ok(s.catchUp, 'a catch-up run started');
    await s.catchUp;
    assert.equal(runs, ['catch-up']);
    const saved = JSON.parse(await readFile(scheduleStatePath({ stateDir: dir }), 'utf8')) as ScheduleState;
    assert.is(saved.lastResult, 'success');
    assert.is(saved.lastReason, 'catch-up');
    assert.ok(new Date(saved.lastRun!).getTime() >= now.getTime() - 1000);
  } finally {
    await s.stop();
  }
  // Started again right away: nothing is overdue any more.
  const again = await startSchedule({ config: { stateDir: dir, schedule: { refresh: '17 3 * * *' } }, sh, run: async (r) => void runs.push(r) });
  await again.stop();
  assert.is(again.catchUp, undefined);
  assert.is(runs.length, 1);
});

test('first start records since and runs nothing; a failing run is recorded as a failure', async () => {
  const dir = await stateDir('first');
  const s = await startSchedule({ config: { stateDir: dir, schedule: { refresh: '17 3 * * *' } }, sh, run: async () => undefined });
  await s.stop();
  assert.is(s.catchUp, undefined);
  const saved = JSON.parse(await readFile(scheduleStatePath({ stateDir: dir }), 'utf8')) as ScheduleState;
  assert.ok(saved.since);
  assert.is(saved.lastRun, undefined);

  const failing = await stateDir('failing', { since: '2020-01-01T00:00:00Z' });
  const f = await startSchedule({
    config: { stateDir: failing, schedule: { refresh: '17 3 * * *' } },
    sh,
    run: async () => Promise.reject(new Error('upstream unreachable')),
  });
  await f.catchUp;
  await f.stop();
  const fs = JSON.parse(await readFile(scheduleStatePath({ stateDir: failing }), 'utf8')) as ScheduleState;
  assert.is(fs.lastResult, 'failure');
  assert.is(fs.lastError, 'upstream unreachable');
});

test('node-cron fires the refresh on schedule (every second)', async () => {
  const dir = await stateDir('fires');
  let runs = 0;
  const s = await startSchedule({ config: { stateDir: dir, schedule: { refresh: '* * * * * *' } }, sh, run: async () => void (runs += 1) });
  try {
    const end = Date.now() + 5000;
    while (runs === 0 && Date.now() < end) await sleep(100);
    assert.ok(runs >= 1, 'the scheduled run happened');
    assert.ok(s.nextRun(), 'a next run is planned');
  } finally {
    await s.stop();
  }
});

test.run();
