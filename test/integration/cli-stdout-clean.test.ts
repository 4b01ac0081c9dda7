/**
 * stdout carries only a command's result, piped as a script reads it; the
 * progress and status lines go to stderr (issue 15). Real .debs (dpkg-deb)
 * imported through the CLI, and `create -n` (the listr2 stages, dry run);
 * each also under --json, where stdout is the one document and every stderr
 * line a JSON event.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from '../helpers/cli.js';
import { makeDeb } from '../helpers/debs.js';

const base = mkdtempSync(join(tmpdir(), 'nk-stdout-clean-'));
const archives = join(base, 'archives');
const cfg = join(base, 'nspawnrc.json');
mkdirSync(archives);
writeFileSync(
  cfg,
  JSON.stringify({ stateDir: join(base, 'state'), mirror: { root: join(base, 'mirror'), archives: [{ path: archives, codename: 'bookworm' }] }, machines: { dir: join(base, 'machines') } }),
);
// spawnSync pipes stdout and stderr: no terminal, as in `nspawn-kit … | jq`.
const run = (...args: string[]) => cli(['--config', cfg, ...args], { cwd: base, env: { NO_COLOR: '1' }, timeoutMs: 180_000 });
const lines = (text: string) => text.split('\n').filter((l) => l !== '');

test.after(() => {
  try {
    execFileSync('gpgconf', ['--homedir', join(base, 'state', 'gnupg'), '--kill', 'all'], { stdio: 'ignore' });
  } catch {
    /* no agent started */
  }
  rmSync(base, { recursive: true, force: true });
});

test('mirror import, piped: stdout is the report only; the progress lines are on stderr, the summary is not', () => {
  makeDeb(archives, { name: 'clean-a' });
  makeDeb(archives, { name: 'clean-b' });
  writeFileSync(join(archives, 'broken_1.0_amd64.deb'), 'not an ar archive');
  const r = run('mirror', 'import');
  assert.is(r.code, 1, r.stderr);
  const out = lines(r.stdout);
  const summary = 'import: 2 imported, 0 already present, 0 unchanged, 0 conflict(s), 1 rejected';
  assert.is(out[0], summary);
  assert.is(out.length, 2, r.stdout);
  assert.match(out[1] ?? '', new RegExp(`^  rejected: ${join(archives, 'broken_1.0_amd64.deb')}: not a valid \\.deb`));
  const err = lines(r.stderr);
  assert.ok(err.includes(`${archives}: 3 .deb file(s) for bookworm`), r.stderr);
  assert.ok(err.some((l) => /^validat/.test(l)), r.stderr);
  assert.not.ok(err.includes(summary), 'the summary is printed once, on stdout');
  assert.not.ok(err.some((l) => out.includes(l)), 'no stdout line repeated on stderr');
});

test('mirror import --json, piped: one document on stdout, every stderr line a JSON event', () => {
  makeDeb(archives, { name: 'clean-c' });
  const r = run('--json', 'mirror', 'import');
  assert.is(r.code, 1, r.stderr);
  const doc = JSON.parse(r.stdout) as { imported: { package: string }[]; rejected: { file: string }[] };
  assert.equal(doc.imported.map((x) => x.package), ['clean-c']);
  assert.equal(doc.rejected.map((x) => x.file), [join(archives, 'broken_1.0_amd64.deb')]);
  const events = lines(r.stderr).map((l) => JSON.parse(l) as { event: string; message?: string });
  assert.ok(events.length > 0);
  assert.ok(events.every((e) => typeof e.event === 'string'), r.stderr);
  assert.ok(events.some((e) => e.event === 'log' && e.message === `${archives}: 4 .deb file(s) for bookworm`), r.stderr);
});

test('mirror gc and warm, piped: the summary on stdout only, one line per line (no escaped "\\n")', () => {
  const gc = run('-n', 'mirror', 'gc');
  assert.is(gc.code, 0, gc.stderr);
  assert.equal(lines(gc.stdout), ['[dry-run] gc: 0 superseded suite entries, 0 pool file(s) would be deleted (0.0 MiB), 0 kept for the grace period']);
  assert.not.match(gc.stderr, 'gc: 0 superseded');
  const warm = run('-n', 'mirror', 'warm', 'bookworm-minimal');
  assert.is(warm.code, 0, warm.stderr);
  const out = lines(warm.stdout);
  assert.is(out[0], '[dry-run] warm: the needed set is unknown until the package lists are fetched');
  assert.match(out[1] ?? '', /^ {2}bookworm-minimal \(bookworm\): 0 \.debs needed/);
  assert.is(out.length, 2, warm.stdout);
  assert.not.match(warm.stdout + warm.stderr, '\\n');
  assert.not.match(warm.stderr, 'warm: the needed set');
});

test('create -n, piped: stdout is the result (machine, how to enter, time per stage); the stages and the plan are on stderr', () => {
  const r = run('-n', 'create', 'bookworm-minimal', '--name', 'clean');
  assert.is(r.code, 0, r.stderr);
  const out = lines(r.stdout);
  // A dry run plans the machine's root: its path is the result line.
  assert.is(out[0], `machine clean: (dry run) would be created at ${join(base, 'machines', 'clean')}`);
  const timings = out.indexOf('time per stage:');
  assert.ok(timings > 0, r.stdout);
  assert.ok(out.slice(timings + 1).every((l) => /^ {2}\S.* +\d+\.\d s$/.test(l)), r.stdout);
  assert.not.ok(out.some((l) => l.includes('[dry-run]')), `no plan line on stdout:\n${r.stdout}`);
  assert.match(r.stderr, '[dry-run] debootstrap ');
});

test('create -n --json, piped: one document on stdout, every stderr line a JSON event', () => {
  const r = run('--json', '-n', 'create', 'bookworm-minimal', '--name', 'clean');
  assert.is(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as { name: string; planned: string[] };
  assert.is(doc.name, 'clean');
  assert.ok(doc.planned.some((c) => c.startsWith('debootstrap ')));
  for (const l of lines(r.stderr)) assert.type((JSON.parse(l) as { event: unknown }).event, 'string', l);
});

test.run();
