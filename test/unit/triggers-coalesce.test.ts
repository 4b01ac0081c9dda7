import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setTimeout as sleep } from 'node:timers/promises';
import { createCoalescer } from '../../src/triggers/coalesce.js';

const union = (a: string[], b: string[]) => [...new Set([...a, ...b])];

test('50 events during a running refresh: no overlap, at most two runs, final run sees every event', async () => {
  let active = 0;
  let maxActive = 0;
  const seen: string[][] = [];
  const runner = createCoalescer<string[]>({
    merge: union,
    run: async (files) => {
      active += 1;
      maxActive = Math.max(maxActive, active);
      seen.push([...files]);
      await sleep(150);
      active -= 1;
    },
  });
  const first = runner.trigger(['refresh']);
  await sleep(10);
  assert.ok(runner.running, 'the first run is in progress');
  const events = Array.from({ length: 50 }, (_, i) => runner.trigger([`pkg${i}.deb`]));
  assert.ok(runner.pending, 'the events marked "again"');
  await Promise.all([first, ...events]);
  await runner.idle();
  assert.is(maxActive, 1, 'runs never overlap');
  assert.is(runner.runs, 2, 'one run plus one follow-up');
  assert.equal(seen[0], ['refresh']);
  assert.equal(new Set(seen[1]), new Set(Array.from({ length: 50 }, (_, i) => `pkg${i}.deb`)));
});

test('a failed run rejects its own triggers only; the follow-up still runs', async () => {
  let n = 0;
  const runner = createCoalescer<number>({
    merge: (a, b) => a + b,
    run: async () => {
      n += 1;
      await sleep(20);
      if (n === 1) throw new Error('boom');
    },
  });
  const a = runner.trigger(1).then(
    () => 'ok',
    (err: Error) => err.message,
  );
  await sleep(5);
  const b = runner.trigger(1);
  assert.is(await a, 'boom');
  await b;
  assert.is(runner.runs, 2);
});

test('a synchronous throw in run does not wedge the runner', async () => {
  let calls = 0;
  const runner = createCoalescer<number>({
    merge: (a, b) => a + b,
    run: (() => {
      calls += 1;
      if (calls === 1) throw new Error('sync');
      return Promise.resolve();
    }) as (p: number, s: AbortSignal) => Promise<void>,
  });
  assert.is(await runner.trigger(1).then(() => 'ok', (err: Error) => err.message), 'sync');
  await runner.trigger(1);
  assert.is(calls, 2);
  assert.not.ok(runner.running);
});

test('close drops the pending follow-up, lets the current run finish, refuses new triggers', async () => {
  let finished = 0;
  const runner = createCoalescer<number>({
    merge: (a, b) => a + b,
    run: async (_p, signal) => {
      await sleep(50);
      if (!signal.aborted) finished += 1;
    },
  });
  const a = runner.trigger(1);
  await sleep(5);
  const b = runner.trigger(2).then(
    () => 'ran',
    (err: Error) => err.message,
  );
  await runner.close();
  await a;
  assert.match(await b, /shut down/);
  assert.match(await runner.trigger(3).then(() => 'ok', (err: Error) => err.message), /shutting down/);
  assert.is(finished, 1);
  assert.is(runner.runs, 1);
});

test('close({abort}) aborts the current run through its signal', async () => {
  let aborted = false;
  const runner = createCoalescer<number>({
    merge: (a, b) => a + b,
    run: (_p, signal) =>
      new Promise((resolve) => {
        signal.addEventListener('abort', () => {
          aborted = true;
          resolve();
        });
      }),
  });
  const a = runner.trigger(1);
  await sleep(5);
  await runner.close({ abort: true });
  await a;
  assert.ok(aborted);
});

test.run();
