/**
 * A JavaScript configuration run as root is imported by name, so every
 * directory from / down to it must be root's and writable by root only, with
 * no sticky exemption: one under a directory of another user's, or directly
 * in a sticky directory like /tmp, is refused with exit 2 naming that
 * directory, and never runs; under a root-only chain it runs. TypeScript
 * configurations are refused. Names in messages are absolute unless --config
 * was given relative (the daemon and cron run from /).
 *
 * The root-only chain is a temporary directory in the checkout (test/), whose
 * directories must then be root's and not writable by others: the test skips
 * visibly when they are not, or when not run as root.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { cli, ROOT } from '../helpers/cli.js';

const NOBODY = 65534;
const isRoot = process.geteuid?.() === 0;

/** The first directory from / to `dir` that is not root's or is writable by others, if any. */
function notRootOnly(dir: string): string | undefined {
  const chain: string[] = [];
  for (let d = dir; ; d = dirname(d)) {
    chain.unshift(d);
    if (d === '/') break;
  }
  return chain.find((d) => {
    const st = lstatSync(d);
    return st.uid !== 0 || (st.mode & 0o022) !== 0;
  });
}

function withRootOnlyDir(fn: (dir: string) => void): void {
  if (!isRoot) return console.log('  (skipped: the ownership checks apply to root only; run the tests as root)');
  const bad = notRootOnly(join(ROOT, 'test'));
  if (bad) return console.log(`  (skipped: ${bad} on the checkout's path is not root's or is writable by others, so no root-only test directory can be made in it)`);
  const dir = mkdtempSync(join(ROOT, 'test', '.nk-module-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function withTmpDir(fn: (dir: string) => void): void {
  if (!isRoot) return console.log('  (skipped: the ownership checks apply to root only; run the tests as root)');
  const dir = mkdtempSync(join(tmpdir(), 'nk-module-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function problems(stderr: string): string[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('  - '))
    .map((l) => l.slice(4));
}

/** A module configuration that leaves `marker` when it runs. */
function writeModule(file: string, dir: string, marker: string): void {
  const config = JSON.stringify({ stateDir: join(dir, 'state'), mirror: { root: join(dir, 'mirror') } });
  writeFileSync(file, `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(marker)}, 'ran');\nexport default ${config};\n`);
}

const MOVE_ONLY = 'move the configuration to a directory only root can write, all the way from / (such as /etc/nspawn-kit), or use JSON or YAML';

test('a root .mjs under a root-only chain runs; once a directory above it is another user\'s, it is refused naming that directory and never runs', () =>
  withRootOnlyDir((dir) => {
    const u = join(dir, 'u');
    mkdirSync(join(u, 'good'), { recursive: true, mode: 0o755 });
    chmodSync(u, 0o755);
    chmodSync(join(u, 'good'), 0o755);
    const file = join(u, 'good', 'config.mjs');
    const marker = join(dir, 'ran');
    writeModule(file, dir, marker);
    const ok = cli(['--config', file, 'config']);
    assert.is(ok.code, 0, ok.stderr);
    assert.is((JSON.parse(ok.stdout) as { stateDir: string }).stateDir, join(dir, 'state'));
    assert.ok(existsSync(marker), 'the module ran');
    rmSync(marker);
    // Another user owns the directory above the module's own: it could swap `good` for its own directory.
    chownSync(u, NOBODY, NOBODY);
    const r = cli(['--config', file, 'config']);
    assert.is(r.code, 2, r.stderr);
    assert.equal(problems(r.stderr), [
      `${file}: the directory ${u} on its path is owned by uid ${NOBODY}, not root: refusing to run this JavaScript configuration as root; chown root ${u}, or ${MOVE_ONLY}`,
    ]);
    assert.not.ok(existsSync(marker), 'the module was not imported');
    // Group-writable, even if root's.
    chownSync(u, 0, 0);
    chmodSync(u, 0o775);
    const g = cli(['--config', file, 'config']);
    assert.is(g.code, 2, g.stderr);
    assert.equal(problems(g.stderr), [
      `${file}: the directory ${u} on its path is writable by group or others (mode 0775): refusing to run this JavaScript configuration as root; chmod go-w ${u}, or ${MOVE_ONLY}`,
    ]);
    assert.not.ok(existsSync(marker), 'the module was not imported');
  }));

test('a root .mjs directly in a sticky directory of root\'s (like /tmp) is refused: the directory is named, the fix is to move it', () =>
  withTmpDir((dir) => {
    const sticky = join(dir, 'sticky');
    mkdirSync(sticky);
    chmodSync(dir, 0o755);
    chmodSync(sticky, 0o1777);
    const file = join(sticky, 'config.mjs');
    const marker = join(dir, 'ran');
    writeModule(file, dir, marker);
    const r = cli(['--config', file, 'config']);
    assert.is(r.code, 2, r.stderr);
    const found = problems(r.stderr);
    assert.ok(
      found.includes(`${file}: the directory ${sticky} on its path is writable by group or others (mode 01777), sticky or not: refusing to run this JavaScript configuration as root; ${MOVE_ONLY}`),
      found.join('\n'),
    );
    // The temporary directory's own parent (/tmp, sticky too) is named as well: every refused directory is listed.
    const tmp = lstatSync(tmpdir());
    if (tmp.mode & 0o022) assert.ok(found.some((p) => p.startsWith(`${file}: the directory ${tmpdir()} on its path is`)), found.join('\n'));
    assert.not.ok(existsSync(marker), 'the module was not imported');
  }));

test('a TypeScript configuration (.ts, .mts, .cts) is refused with exit 2 before anything is read or compiled', () =>
  withTmpDir((dir) => {
    for (const ext of ['ts', 'mts', 'cts']) {
      const file = join(dir, `config.${ext}`);
      writeFileSync(file, 'export default {};\n');
      const r = cli(['--config', file, 'config']);
      assert.is(r.code, 2, r.stderr);
      assert.equal(problems(r.stderr), [`${file}: TypeScript configurations are not supported`]);
      assert.match(r.stderr, 'Compile it to JavaScript (.mjs), or use JSON or YAML.');
    }
  }));

test('from the working directory /, an absolute --config is shown absolute; a relative one as typed', () =>
  withTmpDir((dir) => {
    chmodSync(dir, 0o755);
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ stateDir: 'relative' }));
    const abs = cli(['--config', file, 'config'], { cwd: '/' });
    assert.is(abs.code, 2, abs.stderr);
    assert.ok(problems(abs.stderr).length > 0 && problems(abs.stderr).every((p) => p.startsWith(`${file}: `)), abs.stderr);
    const rel = cli(['--config', file.slice(1), 'config'], { cwd: '/' });
    assert.is(rel.code, 2, rel.stderr);
    assert.ok(problems(rel.stderr).length > 0 && problems(rel.stderr).every((p) => p.startsWith(`${file.slice(1)}: `)), rel.stderr);
  }));

test.run();
