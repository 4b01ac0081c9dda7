/** Pure pieces of the publishing side: Release text, parsers, member checks, records (serving: mirror-serve-http.test.ts). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  buildRelease,
  byHashPaths,
  clearsignedText,
  formatReleaseDate,
  hashBuffer,
  hashFile,
  parseRelease,
  parseReleaseDate,
  parseStanzas,
  releaseFieldsFor,
} from '../../src/mirror/release.js';
import { judgeOutput } from '../../src/mirror/ftparchive-run.js';
import { membersForArch, partsFor, splitRuns } from '../../src/mirror/ftparchive-conf.js';
import { indexEntries, xzThreadArgs } from '../../src/mirror/packages-index.js';
import { settleAll } from '../../src/mirror/settle.js';
import { isPoolPath } from '../../src/mirror/suites.js';
import { recordStamp, recordTime } from '../../src/mirror/publish.js';

const now = new Date('2026-11-29T01:52:54.789Z');

// Fixed inputs, their sizes and hashes as printed by coreutils (`printf 'Package: a\n' | sha256sum`,
// `head -c 1234 /dev/zero | tr '\0' '\1' | sha512sum`, `printf '' | sha256sum`, ...), not by the code under test.
const INPUTS = [
  { path: 'main/binary-amd64/Packages', data: Buffer.from('Package: a\n') },
  { path: 'main/binary-amd64/Packages.gz', data: Buffer.alloc(1234, 1) },
  { path: 'main/binary-arm64/Packages', data: Buffer.from('') },
];
const PACKAGES_A = {
  path: 'main/binary-amd64/Packages',
  size: 11,
  sha256: 'fa07db62b48a0f9848538c437cfa8aef500bd6570830a5c508d87eeb99d1a50d',
  sha512: '39587df4d4cfae2d071aefbd37aee717ce285ee68378b02dcab4e366778951f365b8e5225e4456ee3eb59097bd5d28a3356741997c8783c821d381eed7d2c13b',
};
const PACKAGES_GZ = {
  path: 'main/binary-amd64/Packages.gz',
  size: 1234,
  sha256: '1172e9fbb06e8b833929a567ac04157d8c739edc3611de2ab8ca0cee4d5f6e64',
  sha512: 'd6a86dca23f4566dfae098a1fcc93ed4238eb42135e74fa1a1e3e611cdb6d55953db8a8d6260a7840e193fc19795995e6317228ad2f18afa068e42700b36ef4c',
};
const PACKAGES_EMPTY = {
  path: 'main/binary-arm64/Packages',
  size: 0,
  sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  sha512: 'cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e',
};
const files = [PACKAGES_A, PACKAGES_GZ, PACKAGES_EMPTY];

test('index hashes: size, SHA256 and SHA512 of a buffer and of a file (streamed) are those coreutils print', async () => {
  assert.equal(INPUTS.map((i) => hashBuffer(i.path, i.data)), files);
  const dir = mkdtempSync(join(tmpdir(), 'nk-release-'));
  try {
    for (const [i, input] of INPUTS.entries()) {
      const file = join(dir, `f${i}`);
      writeFileSync(file, input.data);
      assert.equal(await hashFile(file, input.path), files[i], input.path);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Release carries every field apt and debootstrap read, and both hash sections, paths sorted, sizes right-aligned', () => {
  // Given out of order: the sections are sorted by path.
  const text = buildRelease(releaseFieldsFor({ origin: 'nspawn-kit', validDays: 14, architectures: ['amd64', 'arm64'] }, 'bookworm', [PACKAGES_EMPTY, PACKAGES_GZ, PACKAGES_A], now));
  assert.is(
    text,
    [
      'Origin: nspawn-kit',
      'Label: nspawn-kit',
      'Suite: bookworm',
      'Codename: bookworm',
      'Date: Sun, 29 Nov 2026 01:52:54 UTC',
      'Valid-Until: Sun, 13 Dec 2026 01:52:54 UTC',
      'Architectures: amd64 arm64',
      'Components: main',
      'Description: nspawn-kit local mirror of bookworm',
      'Acquire-By-Hash: yes',
      'SHA256:',
      ' fa07db62b48a0f9848538c437cfa8aef500bd6570830a5c508d87eeb99d1a50d   11 main/binary-amd64/Packages',
      ' 1172e9fbb06e8b833929a567ac04157d8c739edc3611de2ab8ca0cee4d5f6e64 1234 main/binary-amd64/Packages.gz',
      ' e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855    0 main/binary-arm64/Packages',
      'SHA512:',
      ' 39587df4d4cfae2d071aefbd37aee717ce285ee68378b02dcab4e366778951f365b8e5225e4456ee3eb59097bd5d28a3356741997c8783c821d381eed7d2c13b   11 main/binary-amd64/Packages',
      ' d6a86dca23f4566dfae098a1fcc93ed4238eb42135e74fa1a1e3e611cdb6d55953db8a8d6260a7840e193fc19795995e6317228ad2f18afa068e42700b36ef4c 1234 main/binary-amd64/Packages.gz',
      ' cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e    0 main/binary-arm64/Packages',
      '',
    ].join('\n'),
  );
  assert.not.match(text, /MD5Sum|SHA1:/);
});

test('parseRelease reads the fields, both hash sections and the dates back', () => {
  const text = buildRelease(releaseFieldsFor({ origin: 'nspawn-kit', validDays: 14, architectures: ['amd64', 'arm64'] }, 'bookworm', files, now));
  const parsed = parseRelease(text);
  assert.equal(
    parsed.sha256.map((e) => [e.path, e.size, e.hash]),
    [
      ['main/binary-amd64/Packages', 11, 'fa07db62b48a0f9848538c437cfa8aef500bd6570830a5c508d87eeb99d1a50d'],
      ['main/binary-amd64/Packages.gz', 1234, '1172e9fbb06e8b833929a567ac04157d8c739edc3611de2ab8ca0cee4d5f6e64'],
      ['main/binary-arm64/Packages', 0, 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
    ],
  );
  assert.equal(
    parsed.sha512.map((e) => [e.path, e.size, e.hash]),
    [
      ['main/binary-amd64/Packages', 11, '39587df4d4cfae2d071aefbd37aee717ce285ee68378b02dcab4e366778951f365b8e5225e4456ee3eb59097bd5d28a3356741997c8783c821d381eed7d2c13b'],
      ['main/binary-amd64/Packages.gz', 1234, 'd6a86dca23f4566dfae098a1fcc93ed4238eb42135e74fa1a1e3e611cdb6d55953db8a8d6260a7840e193fc19795995e6317228ad2f18afa068e42700b36ef4c'],
      ['main/binary-arm64/Packages', 0, 'cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e'],
    ],
  );
  assert.is(parsed.fields['Codename'], 'bookworm');
  assert.is(parsed.fields['Architectures'], 'amd64 arm64');
  assert.is(parsed.validUntil?.getTime(), Date.parse('2026-12-13T01:52:54Z'));
  assert.is(parsed.date?.getTime(), Date.parse('2026-11-29T01:52:54Z'));
});

test('config text cannot inject Release fields', () => {
  const text = buildRelease(releaseFieldsFor({ origin: 'evil\nAcquire-By-Hash: no', validDays: 1, architectures: ['amd64'] }, 'bookworm', files, now));
  assert.is(parseRelease(text).fields['Acquire-By-Hash'], 'yes');
  assert.is(parseRelease(text).fields['Origin'], 'evil Acquire-By-Hash: no');
});

test('dates: UTC both ways, garbage is undefined', () => {
  assert.is(formatReleaseDate(new Date(0)), 'Thu, 01 Jan 1970 00:00:00 UTC');
  assert.is(parseReleaseDate('Sat, 01 Jan 2000 10:00:00 +0200')?.toISOString(), '2000-01-01T08:00:00.000Z');
  assert.is(parseReleaseDate('soon'), undefined);
});

test('deb822 stanzas keep continuation lines and split on blank lines', () => {
  const s = parseStanzas('Package: a\nDescription: short\n long line\n .\n more\n\n\nPackage: b\nSize: 10\n');
  assert.is(s.length, 2);
  assert.is(s[0]!['Description'], 'short\nlong line\n.\nmore');
  assert.is(s[1]!['Size'], '10');
});

test('clearsigned text: armor headers, dash-escaping and the signature are stripped', () => {
  const armored = [
    '-----BEGIN PGP SIGNED MESSAGE-----',
    'Hash: SHA512',
    '',
    'Origin: x',
    '- -----not a header',
    'Suite: y',
    '-----BEGIN PGP SIGNATURE-----',
    '',
    'abc',
    '-----END PGP SIGNATURE-----',
    '',
  ].join('\n');
  assert.is(clearsignedText(armored), 'Origin: x\n-----not a header\nSuite: y\n');
});

test('by-hash paths sit beside the index they copy', () => {
  assert.equal(byHashPaths(PACKAGES_A), [
    'main/binary-amd64/by-hash/SHA256/fa07db62b48a0f9848538c437cfa8aef500bd6570830a5c508d87eeb99d1a50d',
    'main/binary-amd64/by-hash/SHA512/39587df4d4cfae2d071aefbd37aee717ce285ee68378b02dcab4e366778951f365b8e5225e4456ee3eb59097bd5d28a3356741997c8783c821d381eed7d2c13b',
  ]);
  assert.equal(byHashPaths({ ...PACKAGES_EMPTY, path: 'Release' }), [
    './by-hash/SHA256/e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    './by-hash/SHA512/cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e',
  ]);
});

test('suite members: pool paths only, per architecture plus all', () => {
  for (const ok of ['pool/main/h/hello/hello_1_amd64.deb', 'pool/main/h/x/--version_1_amd64.deb', 'pool/main/h/x/$(touch${IFS}x)_1_amd64.deb']) {
    assert.ok(isPoolPath(ok), ok);
  }
  for (const bad of ['pool/main/../../etc/passwd.deb', '/etc/x.deb', 'pool/main/a/a b.deb', 'pool/main/a//a.deb', 'pool/main/a/a.txt', 'dists/x.deb', 'pool/main/./a.deb']) {
    assert.not.ok(isPoolPath(bad), bad);
  }
  const m = ['pool/main/a/a/a_1_amd64.deb', 'pool/main/b/b/b_1_all.deb', 'pool/main/c/c/c_1_arm64.deb', 'pool/main/d/d/d_1_amd64x.deb'];
  assert.equal(membersForArch(m, 'amd64'), ['pool/main/a/a/a_1_amd64.deb', 'pool/main/b/b/b_1_all.deb']);
  assert.equal(membersForArch(m, 'arm64'), ['pool/main/b/b/b_1_all.deb', 'pool/main/c/c/c_1_arm64.deb']);
});

test('apt-ftparchive output: E: and W: lines are failures, progress is not; messages about a file blame that file', () => {
  const out = ' bin-amd64: New 1939 B 2 files 1268 B 0s\nE: Invalid archive signature\n W: Unable to read x\nPackages done, Starting contents.\n';
  assert.equal(judgeOutput(out, '/m'), { badFiles: new Map(), damagedDbs: [], noSpace: false, other: ['E: Invalid archive signature', 'W: Unable to read x'] });
  assert.equal(judgeOutput('Done. 1268 B in 2 archives. Took 0s\n', '/m').other, []);
  // What apt-ftparchive 2.6 printed for a missing file, bytes after the last member, a text file and a symlink to /etc/passwd.
  const real = [
    "E: Could not open file /m/pool/main/m/missing.deb - open (2: No such file or directory)",
    'E: read, still have 52 to read but none left',
    'E: Error reading archive member header',
    "E: Errors apply to file '/m/pool/main/t/trail.deb'",
    'E: read, still have 6 to read but none left',
    "E: Errors apply to file '/m/pool/main/n/notdeb.deb'",
    'BDB3037 /s/cache/packages.db: file size not a multiple of the pagesize',
    'E: DB format is invalid. If you upgraded from an older version of apt, please remove and re-create the database.',
    'E: Unable to open DB file /s/cache/packages.db: Invalid argument',
    'Packages done, Starting contents.',
  ].join('\n');
  assert.equal(judgeOutput(real, '/m'), {
    badFiles: new Map([
      ['pool/main/m/missing.deb', ['E: Could not open file /m/pool/main/m/missing.deb - open (2: No such file or directory)']],
      ['pool/main/t/trail.deb', ['E: read, still have 52 to read but none left', 'E: Error reading archive member header']],
      ['pool/main/n/notdeb.deb', ['E: read, still have 6 to read but none left']],
    ]),
    damagedDbs: ['/s/cache/packages.db'],
    noSpace: false,
    other: [],
  });
  assert.ok(judgeOutput('E: Write error - write (28: No space left on device)\n', '/m').noSpace);
  // A file outside the pool is not ours to drop: the message fails the publish.
  assert.equal(judgeOutput("E: boom\nE: Errors apply to file '/etc/passwd'\n", '/m').other, ['E: boom', "E: Errors apply to file '/etc/passwd'"]);
});

test('apt-ftparchive processes: one for a small suite or one CPU, at most one per CPU and per 500 members, at most 4', () => {
  assert.is(partsFor(0, 2), 1);
  assert.is(partsFor(999, 2), 1);
  assert.is(partsFor(1000, 2), 2);
  assert.is(partsFor(2000, 2), 2);
  assert.is(partsFor(2000, 1), 1);
  assert.is(partsFor(1500, 8), 3);
  assert.is(partsFor(100_000, 16), 4);
});

test('split runs: contiguous, in order, near-equal, every item once; empty runs when parts outnumber items', () => {
  const items = Array.from({ length: 11 }, (_, i) => `pool/main/p/p${String(i).padStart(2, '0')}.deb`);
  for (const parts of [1, 2, 3, 4, 11]) {
    const runs = splitRuns(items, parts);
    assert.is(runs.length, parts);
    assert.equal(runs.flat(), items, `${parts} parts concatenate to the list`);
    const sizes = runs.map((r) => r.length);
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `${parts} parts: ${sizes.join(',')}`);
  }
  assert.equal(splitRuns(['a'], 3), [[], [], ['a']]);
  assert.equal(splitRuns([], 2), [[], []]);
});

test('Packages entries: Filename and Size per paragraph, as parseStanzas reads them', () => {
  const text = [
    'Package: a',
    'Version: 1',
    'Filename: pool/main/a/a/a_1_amd64.deb',
    'Size: 1234',
    'Description: x',
    ' Filename: not/a/field.deb',
    ' .',
    '',
    'Package: b',
    'Size: 99',
    'Filename: pool/main/b/b/b_1_all.deb',
    '  ',
    'Package: no-file',
    '',
    '',
  ].join('\n');
  const entries = indexEntries(text);
  assert.equal(entries, [
    { filename: 'pool/main/a/a/a_1_amd64.deb', size: 1234 },
    { filename: 'pool/main/b/b/b_1_all.deb', size: 99 },
    { filename: '', size: 0 },
  ]);
  assert.equal(
    entries,
    parseStanzas(text).map((s) => ({ filename: s['Filename'] ?? '', size: Number(s['Size'] ?? 0) })),
  );
  assert.equal(indexEntries(''), []);
});

test('xz threads: one block per CPU (of 256 KiB at least) for an index of 512 KiB and more, plain xz below or on one CPU', () => {
  assert.equal(xzThreadArgs(100_000, 2), []);
  assert.equal(xzThreadArgs(500_000, 2), []);
  assert.equal(xzThreadArgs(886_000, 2), ['-T', '2', '--block-size=443000']);
  assert.equal(xzThreadArgs(886_000, 8), ['-T', '3', '--block-size=295334']);
  assert.equal(xzThreadArgs(1_254_000, 1), []);
  assert.equal(xzThreadArgs(20_000_000, 4), ['-T', '4', '--block-size=5000000']);
});

test('settleAll: the values in order; on failure, the first error only after every promise settled', async () => {
  assert.equal(await settleAll([Promise.resolve(1), Promise.resolve(2)]), [1, 2]);
  let slowDone = false;
  const slow = new Promise<number>((resolve) =>
    setTimeout(() => {
      slowDone = true;
      resolve(3);
    }, 30),
  );
  const err = await settleAll([Promise.reject(new Error('first')), slow, Promise.reject(new Error('second'))]).then(() => undefined, (e: Error) => e);
  assert.is(err?.message, 'first');
  assert.ok(slowDone, 'the slow promise had settled before the error was thrown');
});

test('publication record names sort by time and read back', () => {
  const a = recordStamp(now);
  assert.is(a, '2026-11-29T015254.789Z');
  assert.is(recordTime(`${a}.InRelease`), now.getTime());
  assert.is(recordTime(`${a}-2.files`), now.getTime());
  assert.is(recordTime('notes.txt'), undefined);
  assert.is(recordStamp(new Date(now.getTime() + 1)), '2026-11-29T015254.790Z');
  assert.ok(recordStamp(new Date(now.getTime() + 1)) > a);
});

test.run();
