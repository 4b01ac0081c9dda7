import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { ROOT } from '../helpers/cli.js';
import { collectBetweenRuns, tuneHeapFor, verbOf } from '../../src/triggers/heap-tuning.js';

test('the verb is found after the global options (only --config takes a separate value)', () => {
  assert.is(verbOf(['watch']), 'watch');
  assert.is(verbOf(['--config', 'watch', 'mirror', 'publish']), 'mirror');
  assert.is(verbOf(['-c', '/etc/nk.json', '--json', 'daemon']), 'daemon');
  assert.is(verbOf(['--config=/etc/nk.json', '-v', 'schedule']), 'schedule');
  assert.is(verbOf(['--', 'watch']), 'watch');
  assert.is(verbOf(['--help']), undefined);
  assert.is(verbOf([]), undefined);
});

test('only the long-running verbs are tuned', () => {
  // Checked in this process only through the return value: the flags stay V8's defaults for the test runner.
  assert.is(tuneHeapFor(['mirror', 'publish']), false);
  assert.is(tuneHeapFor(['--json', 'status']), false);
  assert.is(tuneHeapFor(['--help']), false);
});

/**
 * In a fresh node process: tune (or not) for argv, then allocate objects
 * that survive a scavenge or two, and report the young generation's size.
 */
function youngGenerationAfterChurn(argv: string[]): number {
  const script = `
    import { getHeapSpaceStatistics } from 'node:v8';
    const { tuneHeapFor } = await import(${JSON.stringify(`${ROOT}/src/triggers/heap-tuning.ts`)});
    tuneHeapFor(${JSON.stringify(argv)});
    let keep = [];
    for (let i = 0; i < 2e6; i++) { keep.push({ i, s: 'x' + i }); if (keep.length > 20000) keep = []; }
    process.stdout.write(String(getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size));
  `;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  return Number(r.stdout);
}

test('set at run time, the flags take effect: `watch` keeps the young generation at its initial size', () => {
  const MiB = 1024 * 1024;
  assert.ok(youngGenerationAfterChurn(['--config', 'x.json', 'watch']) <= 2 * MiB);
  // The same churn grows it with V8's defaults (so the check above means something).
  assert.ok(youngGenerationAfterChurn(['mirror', 'publish']) > 2 * MiB);
});

test('collectBetweenRuns runs a full collection (garbage of a run is gone) without exposing gc globally', () => {
  let garbage: string[] | undefined = Array.from({ length: 200_000 }, (_, i) => `${'x'.repeat(40)}${i}`);
  const full = process.memoryUsage().heapUsed;
  assert.ok(garbage.length > 0);
  garbage = undefined;
  assert.ok(collectBetweenRuns());
  const after = process.memoryUsage().heapUsed;
  assert.ok(after < full - 5 * 1024 * 1024, `heap ${full} -> ${after}`);
  assert.is(typeof (globalThis as { gc?: unknown }).gc, 'undefined');
});

test.run();
