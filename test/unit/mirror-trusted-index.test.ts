/**
 * trusted-index: parsing Packages stanzas as apt and apt-ftparchive write
 * them, reading them in every compression apt may keep lists in, and finding
 * only the verified lists (warm roots' lists, published Packages; never partial/).
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
import { loadTrustedIndex, parsePackagesIndex, readPackagesFile, trustKey, verifiedListFiles } from '../../src/mirror/trusted-index.js';
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
SHA256: ${SHA_B.toUpperCase()}

Package: nohash
Version: 1
Architecture: amd64
Filename: pool/main/n/nohash/nohash_1_amd64.deb
`;

test('parsePackagesIndex: one key per complete stanza; continuation lines are not fields', () => {
  assert.equal(parsePackagesIndex(PACKAGES), [trustKey('hello', '2.10-3', 'amd64', SHA_A), trustKey('libfoo1', '1:1.2-1', 'all', SHA_B)]);
  // No trailing blank line, CRLF-free last stanza: still counted.
  assert.equal(parsePackagesIndex(`Package: x\nVersion: 1\nArchitecture: all\nSHA256: ${SHA_A}`), [trustKey('x', '1', 'all', SHA_A)]);
  assert.equal(parsePackagesIndex(''), []);
});

test('trustKey separates fields so no name/version split can collide', () => {
  assert.not.equal(trustKey('a-b', '1', 'all', SHA_A), trustKey('a', '-b1', 'all', SHA_A));
  assert.is(trustKey('a', '1', 'all', SHA_A.toUpperCase()), trustKey('a', '1', 'all', SHA_A));
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
  writeFileSync(join(lists, 'partial', 'evil_Packages'), `Package: evil\nVersion: 1\nArchitecture: all\nSHA256: ${SHA_B}\n`);
  writeFileSync(join(lists, 'deb.debian.org_debian_dists_bookworm_InRelease'), 'not a list');
  // A download directory of warm (not an apt root) is not a source of trust.
  mkdirSync(join(layout.state, 'warm', 'bookworm', 'download-1', 'state', 'lists'), { recursive: true });
  writeFileSync(join(layout.state, 'warm', 'bookworm', 'download-1', 'state', 'lists', 'x_Packages'), `Package: dl\nVersion: 1\nArchitecture: all\nSHA256: ${SHA_B}\n`);
  const published = join(layout.dists, 'bookworm', 'main', 'binary-amd64');
  mkdirSync(published, { recursive: true });
  writeFileSync(join(published, 'Packages'), `Package: mine\nVersion: 3\nArchitecture: amd64\nSHA256: ${SHA_B}\n`);
  assert.equal(await verifiedListFiles(layout), [join(published, 'Packages'), join(lists, 'deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4')].sort());
  const set = await loadTrustedIndex(new Shell({ log: () => {} }), layout);
  assert.ok(set.has(trustKey('hello', '2.10-3', 'amd64', SHA_A)));
  assert.ok(set.has(trustKey('mine', '3', 'amd64', SHA_B)));
  assert.not.ok(set.has(trustKey('evil', '1', 'all', SHA_B)));
  assert.not.ok(set.has(trustKey('dl', '1', 'all', SHA_B)));
  assert.is(set.size, 3);
});

test.after(() => {
  for (const b of bases) rmSync(b, { recursive: true, force: true });
});

test.run();
