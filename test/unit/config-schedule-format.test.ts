/**
 * schedule.refresh and schedule.timezone are checked by the schema, so a bad
 * value is refused at load with its key path (not first by the scheduler):
 * node-cron's validation for the expression, Intl for the time zone.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cronExpression, timeZone } from '../../src/config/schedule-format.js';
import { ConfigSchema } from '../../src/config/schema.js';
import { formatIssues } from '../../src/config/issues.js';

test('cron expressions: 5 or 6 fields as node-cron reads them', () => {
  for (const ok of ['17 3 * * *', '*/5 * * * *', '0 0 1 1 *', '30 */10 2-4 * * 1-5', '0 3 * * sun']) assert.is(cronExpression(ok), undefined, ok);
  for (const bad of ['', '61 * * * *', '* * *', 'every night', '17 3 * * *\n* * * * *']) assert.match(cronExpression(bad) ?? '', /^not a valid cron expression/, JSON.stringify(bad));
});

test('time zones: IANA names Intl knows', () => {
  for (const ok of ['UTC', 'Europe/Berlin', 'America/Argentina/Buenos_Aires']) assert.is(timeZone(ok), undefined, ok);
  for (const bad of ['Mars/Olympus', 'Europe/Berlin\n', '']) assert.match(timeZone(bad) ?? '', /^unknown time zone/, JSON.stringify(bad));
});

test('the schema refuses both at once with their key paths; the default passes', () => {
  const data = { schedule: { refresh: '99 * * * *', timezone: 'Nowhere/Place' } };
  const parsed = ConfigSchema.safeParse(data);
  assert.not.ok(parsed.success);
  const lines = parsed.success ? [] : formatIssues('cfg.json', ConfigSchema, data, parsed.error.issues);
  assert.equal(lines, [
    'cfg.json: schedule.refresh: not a valid cron expression: expected 5 fields "minute hour day-of-month month day-of-week" (or 6 with seconds first), e.g. "17 3 * * *" (got "99 * * * *")',
    'cfg.json: schedule.timezone: unknown time zone: expected an IANA name like "Europe/Berlin" or "UTC" (got "Nowhere/Place")',
  ]);
  assert.equal(ConfigSchema.parse({}).schedule, { refresh: '17 3 * * *' });
});

test.run();
