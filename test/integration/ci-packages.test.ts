/**
 * One list of Debian packages for the tests (.ci/debian-packages.txt): .ci/run
 * and npm's pretest step (test/install-packages.mjs) both read it, parse it
 * the same way, and .ci/run names no package itself. The pretest's fast path
 * (all installed: nothing runs) and its non-root report, with lists made here.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../helpers/cli.js';

const LIST = join(ROOT, '.ci', 'debian-packages.txt');
const base = mkdtempSync(join(tmpdir(), 'nk-ci-packages-'));
chmodSync(base, 0o755);
test.after(() => rmSync(base, { recursive: true, force: true }));

/** The environment without colour settings: node warns on stderr when FORCE_COLOR and NO_COLOR are both set. */
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !['FORCE_COLOR', 'NO_COLOR', 'NODE_DISABLE_COLORS'].includes(k)));
const ciRun = (...args: string[]) => spawnSync('bash', [join(ROOT, '.ci', 'run'), ...args], { cwd: ROOT, encoding: 'utf8' });
const pretest = (args: string[], opts: { asNobody?: boolean } = {}) =>
  opts.asNobody
    ? spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', process.execPath, join(ROOT, 'test', 'install-packages.mjs'), ...args], { cwd: base, env, encoding: 'utf8' })
    : spawnSync(process.execPath, [join(ROOT, 'test', 'install-packages.mjs'), ...args], { cwd: base, env, encoding: 'utf8' });

function listFile(name: string, text: string): string {
  const file = join(base, name);
  writeFileSync(file, text, { mode: 0o644 });
  return file;
}

test('.ci/run and the pretest read the one list and get the same packages; .ci/run names none itself; package.json runs the pretest', () => {
  const fromCi = ciRun('--print-packages');
  const fromPretest = pretest(['--print']);
  assert.is(fromCi.status, 0, fromCi.stderr);
  assert.is(fromPretest.status, 0, fromPretest.stderr);
  const names = fromCi.stdout.split('\n').filter(Boolean);
  assert.equal(fromPretest.stdout.split('\n').filter(Boolean), names);
  for (const needed of ['debootstrap', 'systemd-container', 'apt-utils', 'gnupg', 'mmdebstrap', 'apt-move', 'lz4', 'strace', 'systemd']) assert.ok(names.includes(needed), needed);
  // The code of .ci/run (comments aside) names no package of the list: the list is the only place.
  const code = readFileSync(join(ROOT, '.ci', 'run'), 'utf8')
    .split('\n')
    .map((l) => l.replace(/(^|\s)#.*/, ''))
    .join('\n');
  for (const n of names) assert.not.match(code, new RegExp(`(^|[\\s"'])${n.replace(/[.+]/g, '\\$&')}($|[\\s"'])`, 'm'), `.ci/run names ${n}`);
  assert.match(code, /packages \.ci\/debian-packages\.txt/);
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  assert.is(pkg.scripts['pretest'], 'node test/install-packages.mjs');
  assert.is(readFileSync(LIST, 'utf8').split('\n').filter((l) => l.trim() && !l.trim().startsWith('#')).length, names.length, 'one package a line, none twice');
});

test('parsing: comments (whole line and after a name), blank and indented lines, CRLF, duplicates; both parsers agree', () => {
  const file = listFile('mixed.txt', '# heading\r\n\r\n  dpkg   # the package manager\r\nlib+x.y-1\n\t\n#commented-out\nbash#glued comment\ndpkg\n');
  const expected = ['dpkg', 'lib+x.y-1', 'bash'];
  const ci = ciRun('--print-packages', file);
  assert.is(ci.status, 0, ci.stderr);
  assert.equal(ci.stdout.split('\n').filter(Boolean), expected);
  const p = pretest(['--print', file]);
  assert.is(p.status, 0, p.stderr);
  assert.equal(p.stdout.split('\n').filter(Boolean), expected);
  // Only comments: nothing to install, nothing printed.
  const empty = listFile('empty.txt', '# nothing yet\n\n');
  assert.is(ciRun('--print-packages', empty).stdout, '');
  assert.is(pretest(['--print', empty]).stdout, '');
});

test('the pretest refuses what is not one Debian package name a line, naming the line', () => {
  const r = pretest(['--print', listFile('bad.txt', 'dpkg\nBad_Name\ntwo words # here\nx\n')]);
  assert.is(r.status, 2);
  assert.equal(r.stderr.trim().split('\n'), [
    'pretest: bad.txt:2: not a Debian package name: "Bad_Name"',
    'bad.txt:3: one package per line, got "two words # here"',
    'bad.txt:4: not a Debian package name: "x"',
  ]);
});

test('all installed: the pretest checks with dpkg-query and does nothing else (no apt-get, no output)', () => {
  const r = pretest([listFile('present.txt', '# essential packages, always installed\ndpkg\nbash\ncoreutils\n')]);
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout, '');
  assert.is(r.stderr, '');
});

test('not root, a package missing: the pretest names it and what to run, installs nothing, and lets the tests run', () => {
  if (spawnSync('sh', ['-c', 'command -v setpriv']).status !== 0) return console.log('  (skipped: setpriv (util-linux) is missing)');
  if (process.getuid?.() !== 0) return console.log('  (skipped: becoming another user needs root)');
  const file = listFile('missing.txt', 'dpkg\nnspawn-kit-no-such-package # made up\n');
  const r = pretest([file], { asNobody: true });
  assert.is(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim().split('\n'), [
    `pretest: 1 Debian package(s) of missing.txt not installed: nspawn-kit-no-such-package`,
    'pretest: as root, run `npm run pretest` (or: apt-get install nspawn-kit-no-such-package); until then the test tiers that need them are skipped, each with its reason.',
  ]);
});

test.run();
