/**
 * trusted-index: parsing Packages stanzas as apt and apt-ftparchive write
 * them, and apt's file names. Reading lists in every compression and finding
 * the verified lists of one codename: test/integration/mirror-trusted-index-lists.test.ts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { aptQuote, buildTrustedIndex, parseArchiveFileName, parsePackagesIndex, trustKey } from '../../src/mirror/trusted-index.js';
import { PACKAGES, SHA_A, SHA_B } from '../helpers/packages-index.js';

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

test('buildTrustedIndex: each package knows the suites whose lists name its exact bytes', () => {
  const fix = { name: 'openssl', version: '3.0.15-1~deb12u1', architecture: 'amd64', size: 10, sha256: SHA_A };
  const index = buildTrustedIndex('bookworm', []);
  index.add(fix, 'bookworm-security');
  index.add(fix, 'bookworm-updates');
  index.add(fix, 'bookworm-security');
  index.add({ ...fix, version: '3.0.14-1~deb12u1' });
  assert.equal(index.suitesOf(fix), ['bookworm-security', 'bookworm-updates']);
  assert.equal(index.suitesOf({ ...fix, version: '3.0.14-1~deb12u1' }), ['bookworm'], 'the default suite is the codename');
  assert.equal(index.suitesOf({ ...fix, sha256: SHA_B }), [], 'other bytes: no suite');
  assert.ok(index.has(fix));
  assert.equal(index.lookup('openssl', '3.0.15-1~deb12u1', 'amd64').length, 1);
});

test.run();
