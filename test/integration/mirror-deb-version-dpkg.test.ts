/** compareVersions against the real `dpkg --compare-versions` (the ordering table alone: test/unit/mirror-ingest.test.ts). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { compareVersions } from '../../src/mirror/deb.js';
import { ORDERED } from '../helpers/deb-versions.js';

test('compareVersions agrees with dpkg --compare-versions on every pair', () => {
  const extra = ['1.2.3-4', '1.2.3a-4', '1.2.3+git20200101-1', '1.2.3~git-1', '3:1', '1:1.2.3-4ubuntu1', '7.0.0-1~exp1', 'a1', '1a', '1.0-a'];
  // Every pair of the tricky values (i < j; the reverse is the same call's mirror), to keep it fast.
  const all = [...ORDERED.filter((_, i) => i % 2 === 0), ...extra];
  // One shell, many comparisons (argv only, no interpolation).
  const script = 'while [ $# -gt 0 ]; do if dpkg --compare-versions "$1" lt "$2"; then echo lt; elif dpkg --compare-versions "$1" eq "$2"; then echo eq; else echo gt; fi; shift 2; done';
  const pairs: Array<[string, string]> = [];
  all.forEach((a, i) => all.slice(i).forEach((b) => pairs.push([a, b])));
  const res = spawnSync('sh', ['-c', script, 'sh', ...pairs.flat()], { encoding: 'utf8' });
  assert.is(res.status, 0, res.stderr);
  const out = res.stdout.trim().split('\n');
  assert.is(out.length, pairs.length);
  pairs.forEach(([a, b], i) => {
    const c = compareVersions(a, b);
    const mine = c < 0 ? 'lt' : c === 0 ? 'eq' : 'gt';
    assert.is(mine, out[i], `${a} vs ${b}`);
  });
});

test.run();
