/**
 * When a watched file is ready to validate (src/triggers/settle-queue.ts),
 * with a fake clock: no sleeping, literal times and expectations.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SettleQueue } from '../../src/triggers/settle-queue.js';

function make(opts: { concurrency?: number; groupSize?: number } = {}) {
  const clock = { t: 10_000 };
  const q = new SettleQueue({ settleMs: 500, concurrency: opts.concurrency ?? 2, groupSize: opts.groupSize ?? 1, now: () => clock.t });
  return { q, clock };
}

test('a file whose mtime is settleMs old is ready at once; a younger one settles from its mtime', () => {
  const { q } = make();
  assert.is(q.note('/a/old.deb', { size: 10, mtimeMs: 9_500 }), 'ready');
  assert.is(q.isQueued('/a/old.deb'), true);
  assert.is(q.note('/a/new.deb', { size: 10, mtimeMs: 9_800 }), 'settling');
  // A clock behind the file's mtime (written "in the future"): settling counts from now.
  assert.is(q.note('/a/future.deb', { size: 1, mtimeMs: 20_000 }), 'settling');
  assert.equal(q.settlingNow(), [
    ['/a/new.deb', { size: 10, mtimeMs: 9_800, since: 9_800 }],
    ['/a/future.deb', { size: 1, mtimeMs: 20_000, since: 10_000 }],
  ]);
  assert.is(q.settlingCount, 2);
});

test('recheck: ready once unchanged for settleMs by the start of the pass; a change restarts the wait', () => {
  const { q, clock } = make();
  q.note('/a/x.deb', { size: 10, mtimeMs: 9_800 });
  let [[, seen]] = q.settlingNow() as [[string, { size: number; mtimeMs: number; since: number }]];
  // 10,200 - 9,800 = 400 < 500: not yet.
  assert.is(q.recheck('/a/x.deb', seen, { size: 10, mtimeMs: 9_800 }, 10_200), 'settling');
  // Grown: the wait restarts at the clock's time of the recheck (10,250).
  clock.t = 10_250;
  assert.is(q.recheck('/a/x.deb', seen, { size: 20, mtimeMs: 10_240 }, 10_240), 'settling');
  [[, seen]] = q.settlingNow() as [[string, { size: number; mtimeMs: number; since: number }]];
  assert.equal(seen, { size: 20, mtimeMs: 10_240, since: 10_250 });
  assert.is(q.recheck('/a/x.deb', seen, { size: 20, mtimeMs: 10_240 }, 10_749), 'settling');
  assert.is(q.recheck('/a/x.deb', seen, { size: 20, mtimeMs: 10_240 }, 10_750), 'ready');
  assert.is(q.settlingCount, 0);
  assert.is(q.isQueued('/a/x.deb'), true);
});

test('recheck: a file gone stops settling; a stale snapshot (noted again meanwhile) is not made ready', () => {
  const { q, clock } = make();
  q.note('/a/gone.deb', { size: 1, mtimeMs: 9_900 });
  const [[, gone]] = q.settlingNow() as [[string, { size: number; mtimeMs: number; since: number }]];
  assert.is(q.recheck('/a/gone.deb', gone, undefined, 11_000), 'gone');
  assert.is(q.settlingCount, 0);
  q.note('/a/y.deb', { size: 1, mtimeMs: 9_900 });
  const [[, old]] = q.settlingNow() as [[string, { size: number; mtimeMs: number; since: number }]];
  clock.t = 10_100;
  q.note('/a/y.deb', { size: 1, mtimeMs: 9_950 });
  assert.is(q.recheck('/a/y.deb', old, { size: 1, mtimeMs: 9_900 }, 11_000), 'settling');
  assert.is(q.isQueued('/a/y.deb'), false);
});

test('a decided stamp is not looked at again; another stamp is; forget starts afresh', () => {
  const { q } = make();
  assert.is(q.note('/a/x.deb', { size: 10, mtimeMs: 1_000 }), 'ready');
  assert.is(q.note('/a/x.deb', { size: 10, mtimeMs: 1_000 }), 'queued');
  assert.equal(q.take(), ['/a/x.deb']);
  q.decide('/a/x.deb', { size: 10, mtimeMs: 1_000 });
  q.done(['/a/x.deb']);
  assert.is(q.note('/a/x.deb', { size: 10, mtimeMs: 1_000 }), 'known');
  assert.is(q.note('/a/x.deb', { size: 11, mtimeMs: 1_000 }), 'ready');
  assert.equal(q.take(), ['/a/x.deb']);
  q.decide('/a/x.deb', { size: 11, mtimeMs: 1_000 });
  q.done(['/a/x.deb']);
  q.forget('/a/x.deb');
  assert.is(q.note('/a/x.deb', { size: 11, mtimeMs: 1_000 }), 'ready');
});

test('a refusal is reported once per reason; forgetWhere drops one directory only', () => {
  const { q } = make();
  assert.is(q.refuse('/m/x.deb', 'FIFO'), true);
  assert.is(q.refuse('/m/x.deb', 'FIFO'), false);
  assert.is(q.refuse('/m/x.deb', 'socket'), true);
  q.note('/m/y.deb', { size: 1, mtimeMs: 9_900 });
  q.note('/n/z.deb', { size: 1, mtimeMs: 9_900 });
  q.forgetWhere((p) => p.startsWith('/m/'));
  assert.is(q.refuse('/m/x.deb', 'socket'), true);
  assert.equal(q.settlingNow().map(([p]) => p), ['/n/z.deb']);
});

test('groups: oldest first, groupSize files each, at most `concurrency` at a time', () => {
  const { q } = make({ concurrency: 2, groupSize: 2 });
  for (const n of ['a', 'b', 'c', 'd', 'e']) q.note(`/a/${n}.deb`, { size: 1, mtimeMs: 0 });
  const first = q.take();
  const second = q.take();
  assert.equal(first, ['/a/a.deb', '/a/b.deb']);
  assert.equal(second, ['/a/c.deb', '/a/d.deb']);
  assert.is(q.take(), undefined, 'two groups running');
  q.done(first!);
  assert.is(q.isQueued('/a/a.deb'), false);
  assert.is(q.isQueued('/a/c.deb'), true);
  assert.equal(q.take(), ['/a/e.deb']);
  q.done(second!);
  assert.is(q.take(), undefined, 'nothing waiting');
});

test.run();
