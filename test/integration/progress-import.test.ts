/**
 * Progress with totals through the real CLI (issue 15): `mirror import` of N
 * real .debs reports "files validated out of the total" on stderr, as JSON
 * progress events under --json and as plain lines without it; stdout carries
 * none of them.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rmSync } from 'node:fs';
import { cliMirror } from '../helpers/mirror-cli.js';
import { makeDebs } from '../helpers/debs.js';

const N = 12;
const made: string[] = [];

test.after(() => {
  for (const base of made) rmSync(base, { recursive: true, force: true });
});

function mirrorWithDebs(prefix: string) {
  const m = cliMirror(prefix);
  made.push(m.base);
  makeDebs(m.archives, N);
  return m;
}

test('--json: stderr is JSON event lines; the progress events count validated files up to done === total === N', () => {
  const m = mirrorWithDebs('nk-progress-json-');
  const r = m.run('--json', 'mirror', 'import');
  assert.is(r.code, 0, r.stderr);
  const events = r.stderr
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  for (const e of events) assert.type(e.event, 'string', JSON.stringify(e));
  const progress = events.filter((e) => e.event === 'progress');
  assert.ok(progress.length >= 2, r.stderr);
  for (const p of progress) {
    assert.is(p.stage, 'validate');
    assert.is(p.unit, 'files');
    assert.is(p.total, N);
    assert.type(p.elapsedMs, 'number');
  }
  assert.is(progress[0]?.done, 0);
  const last = progress.at(-1);
  assert.is(last?.done, N);
  // Monotonic: never more than the total, never backwards.
  const dones = progress.map((p) => p.done as number);
  assert.equal(dones, [...dones].sort((a, b) => a - b));
  // stdout: the one JSON document of the result, no progress in it.
  const doc = JSON.parse(r.stdout) as { imported: unknown[] };
  assert.is(doc.imported.length, N);
  assert.not.match(r.stdout, '"progress"');
});

test('piped, without --json: plain progress lines on stderr, none on stdout', () => {
  const m = mirrorWithDebs('nk-progress-plain-');
  const r = m.run('mirror', 'import');
  assert.is(r.code, 0, r.stderr);
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('validate: '));
  assert.ok(lines.length >= 2, r.stderr);
  assert.is(lines[0], `validate: 0/${N} files`);
  assert.match(lines.at(-1) ?? '', new RegExp(`^validate: ${N}/${N} files(, \\d+\\.\\d files/s)?$`));
  assert.not.match(r.stdout, /validate: /);
  assert.not.match(r.stdout, /files\/s/);
});

test('nothing to validate (all unchanged): no progress line at all', () => {
  const m = mirrorWithDebs('nk-progress-again-');
  assert.is(m.run('mirror', 'import').code, 0);
  const r = m.run('mirror', 'import');
  assert.is(r.code, 0, r.stderr);
  assert.not.match(r.stderr, /validate: /);
});

test.run();
