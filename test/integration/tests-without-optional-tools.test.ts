/**
 * No unit test's expectation depends on which optional tools the host has:
 * the unit tier runs again in a private mount namespace where mmdebstrap,
 * apt-move and lz4 are hidden (a non-executable empty file bound over each,
 * wherever PATH or Debian's root PATH would find it), and passes the same.
 * (layers.test.ts is left out: it only reads src/, and the lead's list of
 * modules is checked by the unit tier itself.)
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { runWithToolsHidden } from '../helpers/hide-tools.js';

const OPTIONAL = ['mmdebstrap', 'apt-move', 'lz4'];

test('the unit tier passes with mmdebstrap, apt-move and lz4 hidden', () => {
  if (process.getuid?.() !== 0) return console.log('  (skipped: hiding tools needs root for a private mount namespace)');
  const r = runWithToolsHidden(OPTIONAL, [process.execPath, 'test/run.mjs', 'unit', '--filter', '^(?!layers\\.).*\\.test\\.ts$'], { timeoutMs: 600_000 });
  const tail = `${r.stdout}\n${r.stderr}`.slice(-3000);
  assert.is(r.status, 0, tail);
  assert.ok(r.stderr.startsWith('hidden\n'), tail);
  const m = /^ {2}unit: (\d+) passed, 0 failed$/m.exec(r.stdout);
  assert.ok(m && Number(m[1]) > 300, tail);
  // Outside the namespace nothing changed: the tools the host has still run.
  for (const tool of OPTIONAL) {
    const here = spawnSync('sh', ['-c', 'command -v "$1"', 'sh', tool], { encoding: 'utf8' });
    if (here.status === 0) assert.is(spawnSync(here.stdout.trim(), ['--version']).error, undefined, tool);
  }
});

test.run();
