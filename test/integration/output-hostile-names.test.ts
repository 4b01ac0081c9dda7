/**
 * Output cannot be forged (issue 11, part 6): .debs whose file names and
 * control fields carry a newline with a fake log line, ESC [2J, the 8-bit CSI
 * U+009B and a bidi override go through the real CLI (import, status, --json,
 * errors). Every output byte is printable ASCII or a line-ending newline, the
 * number of lines is exact, and the JSON gives back the original names.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, cli, type CliResult } from '../helpers/cli.js';
import { makeDeb } from '../helpers/debs.js';

const base = mkdtempSync(join(tmpdir(), 'nk-output-'));
const archives = join(base, 'archives');
mkdirSync(archives);

const FORGED = '\n[ok] imported evil';
/** A valid .deb under a hostile name: imported. */
const OK_NAME = `ok${FORGED}\x1b[2J\u009b31m.deb`;
/** Garbage under a hostile name: rejected and quarantined by that name. */
const BAD_NAME = `bad${FORGED}\x1b[2J\u009b\u202e.deb`;
/** A .deb whose Source field carries ESC, the 8-bit CSI and a bidi override (dpkg-deb --nocheck builds it). */
const CTL_NAME = 'ctl-evil_1.0_amd64.deb';
const HOSTILE_SOURCE = 'src\x1b[2J\u009b31m\u202eevil';

const okPath = join(archives, OK_NAME);
const badPath = join(archives, BAD_NAME);
const ctlPath = join(archives, CTL_NAME);
// What a reader sees: every unsafe character as an escape, the name on one line.
const shown = (path: string) => path.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/[\x00-\x1f\x7f-\x9f\u202a-\u202e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

function config(name: string): string {
  const file = join(base, `${name}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      stateDir: join(base, name, 'state'),
      mirror: { root: join(base, name, 'mirror'), archives: [{ path: archives, codename: 'bookworm' }] },
      machines: { dir: join(base, 'machines') },
      watch: { settleMs: 200, batchMs: 100 },
    }),
  );
  return file;
}
const textCfg = config('text');
const jsonCfg = config('json');
const watchCfg = config('watch');

/** No control, bidi or separator character but the newlines that end lines; returns the lines. */
function terminalLines(out: string, what: string, ascii = false): string[] {
  const bad = [...out].filter((c) => (ascii ? !/[\x20-\x7e\n]/.test(c) : /(?!\n)[\p{Cc}\p{Bidi_Control}\u2028\u2029]/u.test(c)));
  assert.equal(bad, [], `${what}: ${ascii ? 'only printable ASCII' : 'no control character'} and line ends: ${JSON.stringify(out)}`);
  assert.ok(out === '' || out.endsWith('\n'), `${what}: ends with a newline`);
  const lines = out === '' ? [] : out.slice(0, -1).split('\n');
  for (const l of lines) assert.not.ok(l.startsWith('[ok]'), `${what}: a forged line: ${l}`);
  return lines;
}

function expectCode(r: CliResult, code: number): void {
  assert.is(r.code, code, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
}

test.before(() => {
  makeDeb(archives, { name: 'evil-ok' }, OK_NAME);
  writeFileSync(badPath, 'garbage, not an ar archive\n');
  const work = join(base, 'ctl-root');
  mkdirSync(join(work, 'DEBIAN'), { recursive: true });
  writeFileSync(
    join(work, 'DEBIAN', 'control'),
    `Package: ctl-evil\nVersion: 1.0\nArchitecture: amd64\nSource: ${HOSTILE_SOURCE}\nMaintainer: evil \x1b]0;pwned\x07 <e@example.invalid>\nDescription: d\x1b[2J\u009b\n more\n`,
  );
  execFileSync('dpkg-deb', ['--nocheck', '--root-owner-group', '-Zgzip', '--build', work, ctlPath], { stdio: 'ignore' });
});

test.after(() => {
  try {
    execFileSync('gpgconf', ['--homedir', join(base, 'watch', 'state', 'gnupg'), '--kill', 'all'], { stdio: 'ignore' });
  } catch {
    /* no agent started */
  }
  rmSync(base, { recursive: true, force: true });
});

test('mirror import: every hostile name is one escaped line on stdout and stderr; none forges a line; the summary is on stdout only', () => {
  const r = cli(['--config', textCfg, 'mirror', 'import'], { cwd: base });
  expectCode(r, 1);
  const out = terminalLines(r.stdout, 'stdout', true);
  assert.is(out.length, 3, r.stdout);
  assert.is(out[0], 'import: 1 imported, 0 already present, 0 unchanged, 0 conflict(s), 2 rejected');
  const badLine = out.find((l) => l.startsWith(`  rejected: ${shown(badPath)}: `));
  assert.ok(badLine, `the garbage file by its escaped name:\n${r.stdout}`);
  assert.ok(badLine.startsWith(`  rejected: ${archives}/bad\\n[ok] imported evil\\u001b[2J\\u009b\\u202e.deb: `), badLine);
  assert.ok(out.includes(`  rejected: ${ctlPath}: invalid Source field "src\\u001b[2J\\u009b31m\\u202eevil"`), r.stdout);

  const err = terminalLines(r.stderr, 'stderr', true);
  // Progress lines (issue 15): the first and the last of the validation, then the status lines.
  const progress = err.filter((l) => l.startsWith('validate: '));
  assert.is(progress[0], 'validate: 0/3 files');
  assert.match(progress.at(-1) ?? '', /^validate: 3\/3 files(, \d+\.\d files\/s)?$/);
  assert.equal(err.filter((l) => !l.startsWith('rejected ') && !l.startsWith('validate: ')), [`${archives}: 3 .deb file(s) for bookworm`, 'validating 3 file(s)']);
  const rejected = err.filter((l) => l.startsWith('rejected '));
  assert.is(rejected.length, 2, r.stderr);
  // The progress line keeps backslashes (a sink cannot tell values apart) but no control character and no line break.
  assert.ok(rejected.some((l) => l.startsWith(`rejected ${archives}/bad\\n[ok] imported evil\\u001b[2J\\u009b\\u202e.deb: `)), r.stderr);
  assert.ok(rejected.includes(`rejected ${ctlPath}: invalid Source field "src\\u001b[2J\\u009b31m\\u202eevil"`), r.stderr);
});

test('status lists the quarantined files by escaped name, one line each; --json gives back the exact names', () => {
  const j = cli(['--config', textCfg, '--json', 'status'], { cwd: base });
  expectCode(j, 0);
  terminalLines(j.stdout, 'status --json', true);
  const status = JSON.parse(j.stdout) as { quarantined: { file: string; reason: string; time: string }[] };
  const byFile = new Map(status.quarantined.map((q) => [q.file, q]));
  assert.equal([...byFile.keys()].sort(), [badPath, ctlPath].sort());
  assert.is(byFile.get(ctlPath)?.reason, `invalid Source field ${JSON.stringify(HOSTILE_SOURCE)}`);

  const r = cli(['--config', textCfg, 'status'], { cwd: base });
  expectCode(r, 0);
  const lines = terminalLines(r.stdout, 'status', true);
  const q = (file: string) => byFile.get(file)!;
  const reasonShown = (s: string) => s.replace(/[\x00-\x1f\x7f-\x9f\u202a-\u202e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  assert.equal(lines, [
    `mirror ${join(base, 'text', 'mirror')}`,
    'signing key (none yet: created by the first publish)',
    '  bookworm: 0 packages, 0.0 MiB [], 1 in the suite list; never published',
    'daemon: not running',
    "last refresh: none recorded yet (`nspawn-kit mirror refresh`, the daemon's schedule or the nightly job records it)",
    'quarantined (2):',
    // quarantine.json is sorted by file name: "bad..." before "ctl-evil...".
    `  ${shown(badPath)}: ${reasonShown(q(badPath).reason)} (${q(badPath).time})`,
    `  ${ctlPath}: invalid Source field "src\\u001b[2J\\u009b31m\\u202eevil" (${q(ctlPath).time})`,
  ]);
  assert.is(r.stderr, '');
});

test('--json mirror import: ASCII only, and JSON.parse gives back every original name and field', () => {
  const r = cli(['--config', jsonCfg, '--json', 'mirror', 'import'], { cwd: base });
  expectCode(r, 1);
  terminalLines(r.stdout, '--json stdout', true);
  terminalLines(r.stderr, '--json stderr', true);
  // The raw C1 and bidi characters are \u escapes in the JSON text, not bytes.
  assert.match(r.stdout, '\\u009b');
  assert.match(r.stdout, '\\u202e');
  const report = JSON.parse(r.stdout) as { imported: { file: string; package: string }[]; rejected: { file: string; reason: string }[] };
  assert.equal(
    report.imported.map((x) => [x.file, x.package]),
    [[okPath, 'evil-ok']],
  );
  assert.equal(report.rejected.map((x) => x.file).sort(), [badPath, ctlPath].sort());
  assert.is(report.rejected.find((x) => x.file === ctlPath)?.reason, `invalid Source field ${JSON.stringify(HOSTILE_SOURCE)}`);
});

test('errors quote hostile arguments escaped, on one line', () => {
  const bad = cli(['--config', textCfg, 'mirror', 'import', '--from', archives, '--codename', `x${FORGED}\x1b[2J\u009b`], { cwd: base });
  expectCode(bad, 2);
  assert.equal(terminalLines(bad.stderr, 'usage error', true), ['nspawn-kit: --codename: "x\\n[ok] imported evil\\u001b[2J\\u009b" is not a codename like "bookworm"']);
  assert.is(bad.stdout, '');

  // Commander's own message may have lines of its own ("Did you mean"): a line a newline in
  // the argument starts is indented, so it cannot pass for a line of its own.
  const opt = cli(['--config', textCfg, 'mirror', 'import', `--evil${FORGED}\x1b[2J`], { cwd: base });
  expectCode(opt, 2);
  assert.equal(terminalLines(opt.stderr, 'unknown option', true), ["nspawn-kit: unknown option '--evil", "  [ok] imported evil\\u001b[2J'", '(run with --help for usage)']);
});

test('a missing --from directory with a hostile name is one escaped error line (a usage error, exit 2)', () => {
  const dir = join(base, `gone${FORGED}\x1b[2J`);
  const r = cli(['--config', jsonCfg, 'mirror', 'import', '--from', dir, '--codename', 'bookworm'], { cwd: base });
  expectCode(r, 2);
  assert.equal(terminalLines(r.stdout, 'stdout', true), []);
  assert.equal(terminalLines(r.stderr, 'stderr'), [
    `nspawn-kit: --from "${base}/gone\\n[ok] imported evil\\u001b[2J": the directory does not exist`,
    '  → Give --from the directory that holds the .debs to import (e.g. /var/cache/apt/archives).',
  ]);
});

test('--json watch: every event is one JSON line on stdout that gives back the hostile names; stderr is JSON events too', async () => {
  const entry = ['--import', join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs'), join(ROOT, 'src', 'cli.ts')];
  const child = spawn(process.execPath, [...entry, '--config', watchCfg, '--json', 'watch'], { cwd: base, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const packages = join(base, 'watch/mirror/dists/bookworm/main/binary-amd64/Packages');
  try {
    const end = Date.now() + 90_000;
    while (!(existsSync(packages) && readFileSync(packages, 'utf8').includes('Package: evil-ok\n')) || !stdout.includes('"event":"run-end"')) {
      if (Date.now() > end || child.exitCode !== null) throw new Error(`the hostile .deb was not published:\n${stdout}\n${stderr}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    child.kill('SIGTERM');
  }
  assert.is(await exited, 0, stderr);
  // stdout: the events, every line one JSON object; stderr: the runs' status lines, JSON events as well.
  const events = terminalLines(stdout, 'watch stdout').map((l) => JSON.parse(l) as { event: string; path?: string; reason?: string });
  const settled = events.filter((e) => e.event === 'file').map((e) => e.path);
  assert.equal(settled, [okPath], stdout);
  const invalid = new Map(events.filter((e) => e.event === 'invalid').map((e) => [e.path, e.reason]));
  assert.equal([...invalid.keys()].sort(), [badPath, ctlPath].sort(), stdout);
  assert.is(invalid.get(ctlPath), `invalid Source field ${JSON.stringify(HOSTILE_SOURCE)}`);
  assert.equal(events.map((e) => e.event).slice(-2), ['stopping', 'stopped']);
  const logs = terminalLines(stderr, 'watch stderr').map((l) => JSON.parse(l) as { event: string; message?: string });
  assert.ok(logs.length > 0 && logs.every((e) => ['log', 'progress'].includes(e.event)), stderr);
  // No name in a status line breaks a line: each is one parsed object.
  for (const e of logs) assert.not.match(e.message ?? '', /^\[ok\]/);
});

test.run();
