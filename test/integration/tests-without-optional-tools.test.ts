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
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../helpers/cli.js';

const OPTIONAL = ['mmdebstrap', 'apt-move', 'lz4'];

test('the unit tier passes with mmdebstrap, apt-move and lz4 hidden', () => {
  if (process.getuid?.() !== 0) return console.log('  (skipped: hiding tools needs root for a private mount namespace)');
  const dir = mkdtempSync(join(tmpdir(), 'nk-hide-tools-'));
  try {
    const blank = join(dir, 'blank');
    writeFileSync(blank, '', { mode: 0o644 });
    const script = [
      'set -e',
      'blank=$1; shift',
      'for tool in mmdebstrap apt-move lz4; do',
      '  for d in $(printf %s "$PATH" | tr : " ") /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do',
      '    if [ -e "$d/$tool" ]; then mount --bind -- "$blank" "$d/$tool"; fi',
      '  done',
      '  if command -v "$tool" >/dev/null; then echo "still found: $tool" >&2; exit 99; fi',
      'done',
      'echo hidden',
      'exec "$@"',
    ].join('\n');
    const r = spawnSync(
      'unshare',
      ['--mount', '--propagation', 'private', '--', 'sh', '-c', script, 'sh', blank, process.execPath, 'test/run.mjs', 'unit', '--filter', '^(?!layers\\.).*\\.test\\.ts$'],
      { cwd: ROOT, encoding: 'utf8', timeout: 600_000 },
    );
    const tail = `${r.stdout}\n${r.stderr}`.slice(-3000);
    assert.is(r.status, 0, tail);
    assert.ok(r.stdout.startsWith('hidden\n'), tail);
    const m = /^ {2}unit: (\d+) passed, 0 failed$/m.exec(r.stdout);
    assert.ok(m && Number(m[1]) > 300, tail);
    // Outside the namespace nothing changed: the tools the host has still run.
    for (const tool of OPTIONAL) {
      const here = spawnSync('sh', ['-c', 'command -v "$1"', 'sh', tool], { encoding: 'utf8' });
      if (here.status === 0) assert.is(spawnSync(here.stdout.trim(), ['--version']).error, undefined, tool);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
