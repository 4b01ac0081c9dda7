import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeDeb } from '../helpers/debs.js';
import { diffTrees, snapshotTree } from '../helpers/tree.js';
import { zxScript } from '../helpers/zx.js';

const base = mkdtempSync(join(tmpdir(), 'nk-tasks-'));
const archives = join(base, 'archives');
const cfg = join(base, 'cfg.json');
mkdirSync(archives);
writeFileSync(
  cfg,
  JSON.stringify({ stateDir: join(base, 'state'), mirror: { root: join(base, 'mirror'), archives: [{ path: archives, codename: 'bookworm' }] }, machines: { dir: join(base, 'machines') } }),
);

test.after(() => {
  try {
    execFileSync('gpgconf', ['--homedir', join(base, 'state', 'gnupg'), '--kill', 'all'], { stdio: 'ignore' });
  } catch {
    /* no agent */
  }
  rmSync(base, { recursive: true, force: true });
});

test('--dry-run of cache-dir and index prints the commands and changes nothing', () => {
  makeDeb(archives, { name: 'alpha-nk' });
  const before = snapshotTree(base);
  const dirs = zxScript('tasks/cache-dir.mjs', ['--config', cfg, '--dry-run']);
  assert.is(dirs.code, 0, dirs.stderr + dirs.stdout);
  // The planned commands are progress (stderr); stdout is the summary only.
  assert.match(dirs.stderr, `[dry-run] mkdir -p -m 700 -- ${join(base, 'state', 'gnupg')}`);
  assert.match(dirs.stderr, '[dry-run] gpg --homedir');
  assert.not.match(dirs.stdout, '[dry-run]');
  assert.match(dirs.stdout, 'nothing was changed');
  const idx = zxScript('tasks/index.mjs', ['--config', cfg, '--dry-run']);
  assert.is(idx.code, 0, idx.stderr + idx.stdout);
  assert.match(idx.stderr, '[dry-run] install -D -m 0644 -T --');
  assert.equal(diffTrees(before, snapshotTree(base)), []);
});

test('cache-dir creates the directories and the key; index imports, signs and publishes', () => {
  const dirs = zxScript('tasks/cache-dir.mjs', ['--config', cfg]);
  assert.is(dirs.code, 0, dirs.stderr + dirs.stdout);
  assert.is(statSync(join(base, 'state', 'gnupg')).mode & 0o777, 0o700);
  assert.ok(existsSync(join(base, 'mirror', 'mirror.asc')));
  assert.ok(existsSync(join(base, 'mirror', 'mirror.gpg')));
  const idx = zxScript('tasks/index.mjs', ['--config', cfg]);
  assert.is(idx.code, 0, idx.stderr + idx.stdout);
  assert.match(idx.stderr, 'Import from the apt archives, index, sign, publish: bookworm 1 pkgs, bookworm-security 0 pkgs, bookworm-updates 0 pkgs; imported 1 new');
  assert.match(idx.stdout, 'time per stage:');
  assert.match(readFileSync(join(base, 'mirror/dists/bookworm/main/binary-amd64/Packages'), 'utf8'), 'Package: alpha-nk');
  execFileSync('gpgv', ['--keyring', join(base, 'mirror', 'mirror.gpg'), '--', join(base, 'mirror/dists/bookworm/InRelease')], { stdio: 'ignore' });
});

test('config-files is skipped with its reason under the native importer; bad flags exit 2', () => {
  const cf = zxScript('tasks/config-files.mjs', ['--config', cfg]);
  assert.is(cf.code, 0);
  assert.match(cf.stderr, 'SKIPPED: mirror.importer is "native"');
  const bad = zxScript('tasks/index.mjs', ['--config', cfg, '--bogus']);
  assert.is(bad.code, 2);
  assert.match(bad.stderr, 'nspawn-kit: index: unknown option(s): --bogus');
  const broken = join(base, 'broken.json');
  writeFileSync(broken, JSON.stringify({ mirror: { rooot: '/x' } }));
  const b = zxScript('tasks/index.mjs', ['--config', broken]);
  assert.is(b.code, 2);
  assert.match(b.stderr, 'mirror.rooot: unknown key (did you mean "root"?)');
});

test.run();
