/**
 * trusted-index on real files: lists in every compression apt may keep them in
 * (made with xz, lz4 and zstd), and only the verified lists of one codename
 * (warm roots' lists, published Packages; never partial/, never another
 * codename's). Parsing alone: test/unit/mirror-trusted-index.test.ts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Shell } from '../../src/shell.js';
import { mirrorLayout } from '../../src/mirror/layout.js';
import { loadTrustedIndex, readPackagesFile, verifiedListFiles } from '../../src/mirror/trusted-index.js';
import { makeConfig } from '../helpers/config.js';
import { PACKAGES, SHA_A, SHA_B } from '../helpers/packages-index.js';

const bases: string[] = [];

test('readPackagesFile: plain, gz, xz, lz4 and zst give the same text', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nk-ti-'));
  bases.push(dir);
  const plain = join(dir, 'x_Packages');
  writeFileSync(plain, PACKAGES);
  writeFileSync(`${plain}.gz`, gzipSync(PACKAGES));
  execFileSync('xz', ['-k', plain]);
  execFileSync('lz4', ['-q', plain, `${plain}.lz4`]);
  execFileSync('zstd', ['-q', plain, '-o', `${plain}.zst`]);
  const sh = new Shell({ log: () => {} });
  for (const ext of ['', '.gz', '.xz', '.lz4', '.zst']) assert.is(await readPackagesFile(sh, `${plain}${ext}`), PACKAGES, ext || 'plain');
});

test('verifiedListFiles/loadTrustedIndex: warm lists and published Packages; partial/ and other files ignored', async () => {
  const base = mkdtempSync(join(tmpdir(), 'nk-ti-'));
  bases.push(base);
  const layout = mirrorLayout(makeConfig(base));
  const lists = join(layout.state, 'warm', 'bookworm', 'apt-bookworm-minimal', 'state', 'lists');
  mkdirSync(join(lists, 'partial'), { recursive: true });
  execFileSync('sh', ['-c', 'printf "%s" "$1" | lz4 -q > "$2"', 'sh', PACKAGES, join(lists, 'deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4')]);
  writeFileSync(join(lists, 'partial', 'evil_Packages'), `Package: evil\nVersion: 1\nArchitecture: all\nSize: 1\nSHA256: ${SHA_B}\n`);
  writeFileSync(join(lists, 'deb.debian.org_debian_dists_bookworm_InRelease'), 'not a list');
  // A download directory of warm (not an apt root) is not a source of trust.
  mkdirSync(join(layout.state, 'warm', 'bookworm', 'download-1', 'state', 'lists'), { recursive: true });
  writeFileSync(join(layout.state, 'warm', 'bookworm', 'download-1', 'state', 'lists', 'x_Packages'), `Package: dl\nVersion: 1\nArchitecture: all\nSize: 1\nSHA256: ${SHA_B}\n`);
  // Lists of another codename (a trixie warm root, trixie's publication) never count for bookworm.
  const trixieLists = join(layout.state, 'warm', 'trixie', 'apt-trixie-minimal', 'state', 'lists');
  mkdirSync(trixieLists, { recursive: true });
  writeFileSync(join(trixieLists, 'deb.debian.org_debian_dists_trixie_main_binary-amd64_Packages'), `Package: newer\nVersion: 9\nArchitecture: all\nSize: 2\nSHA256: ${SHA_A}\n`);
  const trixiePublished = join(layout.dists, 'trixie', 'main', 'binary-amd64');
  mkdirSync(trixiePublished, { recursive: true });
  writeFileSync(join(trixiePublished, 'Packages'), `Package: tmine\nVersion: 3\nArchitecture: amd64\nSize: 3\nSHA256: ${SHA_B}\n`);
  const published = join(layout.dists, 'bookworm', 'main', 'binary-amd64');
  mkdirSync(published, { recursive: true });
  writeFileSync(join(published, 'Packages'), `Package: mine\nVersion: 3\nArchitecture: amd64\nSize: 4\nSHA256: ${SHA_B}\n`);
  assert.equal(await verifiedListFiles(layout, 'bookworm'), [join(published, 'Packages'), join(lists, 'deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4')].sort());
  assert.equal(await verifiedListFiles(layout, 'trixie'), [join(trixiePublished, 'Packages'), join(trixieLists, 'deb.debian.org_debian_dists_trixie_main_binary-amd64_Packages')].sort());
  assert.equal(await verifiedListFiles(layout, '../bookworm'), []);
  const bookworm = await loadTrustedIndex(new Shell({ log: () => {} }), layout, 'bookworm');
  const pkg = (name: string, version: string, architecture: string, size: number, sha256: string) => ({ name, version, architecture, size, sha256 });
  assert.ok(bookworm.has(pkg('hello', '2.10-3', 'amd64', 53084, SHA_A)));
  assert.not.ok(bookworm.has(pkg('hello', '2.10-3', 'amd64', 53085, SHA_A)), 'another size is other bytes');
  assert.ok(bookworm.has(pkg('mine', '3', 'amd64', 4, SHA_B)));
  assert.equal(bookworm.lookup('libfoo1', '1:1.2-1', 'all').map((p) => p.size), [1200]);
  assert.not.ok(bookworm.has(pkg('evil', '1', 'all', 1, SHA_B)));
  assert.not.ok(bookworm.has(pkg('dl', '1', 'all', 1, SHA_B)));
  assert.not.ok(bookworm.has(pkg('newer', '9', 'all', 2, SHA_A)), 'a trixie list does not vouch for bookworm');
  assert.not.ok(bookworm.has(pkg('tmine', '3', 'amd64', 3, SHA_B)), "trixie's publication does not vouch for bookworm");
  const trixie = await loadTrustedIndex(new Shell({ log: () => {} }), layout, 'trixie');
  assert.ok(trixie.has(pkg('newer', '9', 'all', 2, SHA_A)));
  assert.not.ok(trixie.has(pkg('hello', '2.10-3', 'amd64', 53084, SHA_A)));
});

test.after(() => {
  for (const b of bases) rmSync(b, { recursive: true, force: true });
});

test.run();
