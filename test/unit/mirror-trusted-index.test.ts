/**
 * trusted-index: parsing Packages stanzas as apt and apt-ftparchive write
 * them, reading them in every compression apt may keep lists in, and finding
 * only the verified lists of one codename (warm roots' lists, published
 * Packages; never partial/, never another codename's), and apt's file names.
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
import { aptQuote, loadTrustedIndex, parseArchiveFileName, parsePackagesIndex, readPackagesFile, trustKey, verifiedListFiles } from '../../src/mirror/trusted-index.js';
import { makeConfig } from '../helpers/config.js';

const SHA_A = 'a'.repeat(64);
const SHA_B = 'b'.repeat(64);

// Real-format stanzas: multi-line Description, Conffiles-like continuations, MD5sum before SHA256, an epoch.
const PACKAGES = `Package: hello
Version: 2.10-3
Installed-Size: 280
Maintainer: Santiago Vila <sanvila@debian.org>
Architecture: amd64
Depends: libc6 (>= 2.34)
Description: example package based on GNU hello
 The GNU hello program produces a familiar, friendly greeting.
 .
 SHA256: ${'c'.repeat(64)}
Homepage: https://www.gnu.org/software/hello/
Section: devel
Priority: optional
Filename: pool/main/h/hello/hello_2.10-3_amd64.deb
Size: 53084
MD5sum: 0123456789abcdef0123456789abcdef
SHA256: ${SHA_A}

Package: libfoo1
Source: foo (1.2-1)
Version: 1:1.2-1
Architecture: all
Filename: pool/main/f/foo/libfoo1_1.2-1_all.deb
Size: 1200
SHA256: ${SHA_B.toUpperCase()}

Package: nohash
Version: 1
Architecture: amd64
Size: 10
Filename: pool/main/n/nohash/nohash_1_amd64.deb

Package: nosize
Version: 1
Architecture: amd64
SHA256: ${SHA_A}
`;

test('parsePackagesIndex: one entry per complete stanza (name, version, arch, size, sha256); continuation lines are not fields', () => {
  assert.equal(parsePackagesIndex(PACKAGES), [
    { name: 'hello', version: '2.10-3', architecture: 'amd64', size: 53084, sha256: SHA_A },
    { name: 'libfoo1', version: '1:1.2-1', architecture: 'all', size: 1200, sha256: SHA_B },
  ]);
  // No trailing blank line, CRLF-free last stanza: still counted.
  assert.equal(parsePackagesIndex(`Package: x\nVersion: 1\nArchitecture: all\nSize: 7\nSHA256: ${SHA_A}`), [{ name: 'x', version: '1', architecture: 'all', size: 7, sha256: SHA_A }]);
  assert.equal(parsePackagesIndex(`Package: x\nVersion: 1\nArchitecture: all\nSize: 7 bytes\nSHA256: ${SHA_A}`), []);
  assert.equal(parsePackagesIndex(''), []);
});

test('trustKey separates fields so no name/version split can collide; the size is part of it', () => {
  assert.not.equal(trustKey('a-b', '1', 'all', 5, SHA_A), trustKey('a', '-b1', 'all', 5, SHA_A));
  assert.is(trustKey('a', '1', 'all', 5, SHA_A.toUpperCase()), trustKey('a', '1', 'all', 5, SHA_A));
  assert.not.equal(trustKey('a', '1', 'all', 5, SHA_A), trustKey('a', '1', 'all', 6, SHA_A));
});

test('parseArchiveFileName: apt names downloads name_version_arch.deb with %-quoting; anything else is not a name', () => {
  assert.equal(parseArchiveFileName('libfoo1_1%3a1.2-1_all.deb'), { name: 'libfoo1', version: '1:1.2-1', architecture: 'all' });
  assert.equal(parseArchiveFileName('hello_2.10-3_amd64.deb'), { name: 'hello', version: '2.10-3', architecture: 'amd64' });
  assert.is(parseArchiveFileName('hello.deb'), undefined);
  assert.is(parseArchiveFileName('a_b_c_d.deb'), undefined);
  assert.is(parseArchiveFileName('a_%zz_amd64.deb'), undefined);
  assert.is(parseArchiveFileName('a__amd64.deb'), undefined);
});

test('parseArchiveFileName: only apt\'s exact quoting is a name, so one package has exactly one file name', () => {
  // apt's QuoteString: "_" and ":" (and "." in the architecture), "%", controls and non-ASCII bytes as lower-case %xx.
  assert.equal(parseArchiveFileName('bigpkg_1.0_amd64.deb'), { name: 'bigpkg', version: '1.0', architecture: 'amd64' });
  assert.equal(parseArchiveFileName('bigpkg_2%3a1.0%25x_amd64.deb'), { name: 'bigpkg', version: '2:1.0%x', architecture: 'amd64' });
  assert.is(aptQuote('2:1.0~rc1+b1', '_:'), '2%3a1.0~rc1+b1');
  assert.is(aptQuote('a b\u00e9', '_:'), 'a%20b%c3%a9');
  // Aliases of the same package: a quoted letter, upper-case hex, a quoted "." in the version, a literal ":".
  for (const alias of ['%62igpkg_1.0_amd64.deb', 'bigpkg_1%2e0_amd64.deb', 'bigpkg_2%3A1.0_amd64.deb', 'bigpkg_1.0_%61md64.deb', 'bigpkg_2:1.0_amd64.deb']) {
    assert.is(parseArchiveFileName(alias), undefined, alias);
  }
  // Bytes that are not UTF-8, a truncated escape, a "." in the architecture left unquoted.
  assert.is(parseArchiveFileName('bigpkg_1.0%ff_amd64.deb'), undefined);
  assert.is(parseArchiveFileName('bigpkg_1.0%2_amd64.deb'), undefined);
  assert.is(parseArchiveFileName('bigpkg_1.0_am.d64.deb'), undefined);
  assert.equal(parseArchiveFileName('bigpkg_1.0_am%2ed64.deb'), { name: 'bigpkg', version: '1.0', architecture: 'am.d64' });
});

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
