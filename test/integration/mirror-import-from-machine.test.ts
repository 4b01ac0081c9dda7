/**
 * Review finding L1: a directory under machines.dir handed to the importer by
 * path (`mirror import --from`, or a mirror.archives entry) is a machine's,
 * not the admin's: its files pass the machines' trust check and go only into
 * the codename of the machine's provenance record. Real CLI, dpkg-deb and
 * apt-ftparchive; fixtures made here.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Shell } from '../../src/shell.js';
import { importArchives } from '../../src/mirror/import.js';
import { archiveOwner } from '../../src/triggers/archive-owner.js';
import { mirrorLayout, suiteListPath } from '../../src/mirror/layout.js';
import { cli } from '../helpers/cli.js';
import { makeConfig } from '../helpers/config.js';
import { makeDeb } from '../helpers/debs.js';

const bases: string[] = [];

function world() {
  const base = mkdtempSync(join(tmpdir(), 'nk-from-machine-'));
  bases.push(base);
  const config = makeConfig(base);
  mkdirSync(config.mirror.archives[0]!.path, { recursive: true });
  const cfg = join(base, 'nspawnrc.json');
  writeFileSync(cfg, JSON.stringify({ stateDir: config.stateDir, mirror: { root: config.mirror.root, archives: config.mirror.archives }, machines: { dir: config.machines.dir } }));
  // Machine "web" (bookworm by its provenance record); its apt cache holds a verified package and a planted one.
  const root = join(config.machines.dir, 'web');
  mkdirSync(join(root, 'var', 'lib', 'nspawn-kit'), { recursive: true });
  writeFileSync(join(root, 'var', 'lib', 'nspawn-kit', 'provenance.json'), JSON.stringify({ codename: 'bookworm' }));
  const cache = join(root, 'var', 'cache', 'apt', 'archives');
  mkdirSync(cache, { recursive: true });
  const repo = join(base, 'repo');
  copyFileSync(makeDeb(repo, { name: 'trusted' }), join(cache, 'trusted_1.0-1_amd64.deb'));
  const lists = join(config.stateDir, 'mirror', 'warm', 'bookworm', 'apt-test-recipe', 'state', 'lists');
  mkdirSync(lists, { recursive: true });
  writeFileSync(join(lists, 'deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages'), execFileSync('apt-ftparchive', ['packages', '.'], { cwd: repo, encoding: 'utf8' }));
  makeDeb(cache, { name: 'evilpkg', version: '6.6' });
  const run = (...args: string[]) => cli(['--config', cfg, ...args], { cwd: base });
  const suite = () => (existsSync(suiteListPath(mirrorLayout(config), 'bookworm')) ? readFileSync(suiteListPath(mirrorLayout(config), 'bookworm'), 'utf8') : '');
  return { base, config, cache, run, suite };
}

const NOT_VERIFIED = 'not in any index nspawn-kit verified for bookworm (machine web)';

test('mirror import --from <a machine\'s apt cache>: the trust check applies; the planted package stays out', () => {
  const { cache, run, suite } = world();
  const r = run('mirror', 'import', '--from', cache, '--codename', 'bookworm');
  assert.is(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /^import: 1 imported, 0 already present, 0 unchanged, 0 conflict\(s\), 1 rejected$/m);
  assert.ok(r.stdout.split('\n').includes(`  rejected: ${join(cache, 'evilpkg_6.6_amd64.deb')}: ${NOT_VERIFIED}`), r.stdout);
  assert.is(suite(), 'pool/main/t/trusted/trusted_1.0-1_amd64.deb\n');
});

test('--from through a symlink outside machines.dir is still the machine\'s; another codename is refused with what to do', () => {
  const { base, config, cache, run, suite } = world();
  const alias = join(base, 'looks-like-admin');
  symlinkSync(cache, alias);
  const r = run('mirror', 'import', '--from', alias, '--codename', 'bookworm');
  assert.is(r.code, 1, r.stdout + r.stderr);
  assert.ok(r.stdout.split('\n').includes(`  rejected: ${join(cache, 'evilpkg_6.6_amd64.deb')}: ${NOT_VERIFIED}`), r.stdout);
  assert.not.match(suite(), 'evilpkg');

  const other = run('mirror', 'import', '--from', cache, '--codename', 'trixie');
  assert.is(other.code, 2);
  assert.match(other.stderr, `--from ${cache} is machine web's directory; its files go only into bookworm (its provenance record): use --codename bookworm`);
  assert.not.ok(existsSync(suiteListPath(mirrorLayout(config), 'trixie')), 'nothing filed under trixie');
});

test('a mirror.archives entry inside machines.dir is the machine\'s too; a machine without a valid record is skipped with the reason', async () => {
  const { config, cache, suite } = world();
  const ctx = { sh: new Shell({ log: () => {} }), config, log: () => {} };
  const r = await importArchives(ctx, [{ path: cache, codename: 'bookworm' }], archiveOwner);
  assert.equal(r.imported.map((i) => i.package), ['trusted']);
  assert.equal(r.rejected, [{ file: join(cache, 'evilpkg_6.6_amd64.deb'), reason: NOT_VERIFIED }]);
  assert.not.match(suite(), 'evilpkg');

  rmSync(join(config.machines.dir, 'web', 'var', 'lib', 'nspawn-kit', 'provenance.json'));
  const none = await importArchives(ctx, [{ path: cache, codename: 'bookworm' }], archiveOwner, { force: true });
  assert.is(none.imported.length + none.rejected.length + none.alreadyPresent.length, 0);
  assert.equal(none.warnings.length, 1);
  assert.match(none.warnings[0] ?? '', `${cache} (in machine web): `);
  assert.match(none.warnings[0] ?? '', "a machine's files are imported only under the codename its provenance record gives; skipped");
});

test.after(() => {
  for (const b of bases) rmSync(b, { recursive: true, force: true });
});

test.run();
