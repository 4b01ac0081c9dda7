import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatProgress, measure, throttledProgress, type ProgressReport } from '../../src/progress.js';
import { errorJson, ConfigError, UsageError } from '../../src/errors.js';

const MiB = 1024 * 1024;

test('a download: packages and MiB out of the totals, the rate and the time left', () => {
  const r = measure({ stage: 'download bookworm', done: 12, total: 120, unit: 'packages', bytes: 10 * MiB, totalBytes: 70 * MiB }, 0, 5000);
  assert.is(r.rate, 2 * MiB);
  assert.is(r.etaSeconds, 30);
  assert.is(formatProgress(r), 'download bookworm: 12/120 packages, 10.0/70.0 MiB, 2.0 MiB/s, 30 s left');
});

test('items without bytes: items per second; no time left once done; none without a total', () => {
  assert.is(formatProgress(measure({ stage: 'unpack', done: 50, total: 100, unit: 'packages' }, 0, 100_000)), 'unpack: 50/100 packages, 0.5 packages/s, 1 min 40 s left');
  assert.is(formatProgress(measure({ stage: 'unpack', done: 100, total: 100, unit: 'packages' }, 0, 10_000)), 'unpack: 100/100 packages, 10.0 packages/s');
  assert.is(formatProgress(measure({ stage: 'validate', done: 3, unit: 'files' }, 0, 0)), 'validate: 3 files');
});

test('throttled: a stage\'s first event, then at most one per interval, and always its last', () => {
  let now = 0;
  const seen: ProgressReport[] = [];
  const sink = throttledProgress((r) => seen.push(r), 1000, () => now);
  for (let done = 0; done <= 10; done++) {
    now = done * 300;
    sink({ stage: 'a', done, total: 10, unit: 'files' });
  }
  sink({ stage: 'b', done: 1, unit: 'files' });
  assert.equal(
    seen.map((r) => `${r.stage}${r.done}`),
    ['a0', 'a4', 'a8', 'a10', 'b1'],
  );
});

test('a stage name seen again is a new run: measured from its own start, its first event shown', () => {
  let now = 0;
  const seen: ProgressReport[] = [];
  const sink = throttledProgress((r) => seen.push(r), 1000, () => now);
  for (let done = 0; done <= 10; done++) {
    now = done * 500;
    sink({ stage: 'validate', done, total: 10, unit: 'files' });
  }
  seen.length = 0;
  now = 3_600_000;
  sink({ stage: 'validate', done: 0, total: 100, unit: 'files' });
  now += 4000;
  sink({ stage: 'validate', done: 50, total: 100, unit: 'files' });
  assert.equal(seen.map((r) => formatProgress(r)), ['validate: 0/100 files', 'validate: 50/100 files, 12.5 files/s, 4 s left']);
  // A count that goes back without the last run finishing starts over too.
  now += 500;
  sink({ stage: 'validate', done: 3, total: 100, unit: 'files' });
  assert.is(seen.at(-1)?.done, 3);
  assert.is(seen.at(-1)?.elapsedMs, 0);
});

test('errorJson: message, hint, exit code; a configuration error lists its problems', () => {
  assert.equal(errorJson(new UsageError('bad', 'do this')), { error: 'bad', hint: 'do this', exitCode: 2 });
  const c = errorJson(new ConfigError(['a: x', 'b: y']));
  assert.is(c.exitCode, 2);
  assert.equal(c.problems, ['a: x', 'b: y']);
  assert.equal(errorJson(new Error('boom')), { error: 'Error: boom', exitCode: 1 });
});

test.run();
