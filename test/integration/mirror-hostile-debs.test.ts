/**
 * Issue 11, part 2: .debs crafted byte by byte that dpkg-deb and
 * apt-ftparchive read differently. A second control member after data.tar
 * (dpkg-deb validates package A, apt-ftparchive indexes package B), bytes
 * after the last member, control files that set fields the index owns: all
 * refused at import with the reason (dpkg-deb's, every line). And a pool file that got in anyway
 * (an older importer) is refused before signing, quarantined, and the
 * previous publication stays live; `mirror verify` reports such a file in a
 * live publication.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { cliMirror } from '../helpers/mirror-cli.js';
import { arArchive, arMembers, makeDeb, makeTrailingBytesDeb, makeTwoControlDeb, type DebSpec } from '../helpers/debs.js';

const { base, archives, root, state, run } = cliMirror('nk-hostile-');
const packages = () => readFileSync(join(root, 'dists/bookworm/main/binary-amd64/Packages'), 'utf8');
const names = () => [...packages().matchAll(/^Package: (.*)$/gm)].map((m) => m[1]).sort();
const suiteList = () => readFileSync(join(state, 'mirror/suites/bookworm.list'), 'utf8').trim().split('\n').filter(Boolean);
const quarantined = (): Record<string, string> => {
  const st = run('--json', 'status');
  assert.is(st.code, 0, st.stderr);
  const json = JSON.parse(st.stdout) as { quarantined: Array<{ file: string; reason: string }> };
  return Object.fromEntries(json.quarantined.map((q) => [q.file, q.reason]));
};
const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
const a: DebSpec = { name: 'pkga' };
const b: DebSpec = { name: 'pkgb', depends: 'evil' };

/** Puts a file into the pool by hand, recorded in the pool index as `as` (what an older importer validated). */
function intoPool(src: string, rel: string, as?: { name: string; version: string; architecture: string }): void {
  const dest = join(root, rel);
  mkdirSync(dirname(dest), { recursive: true });
  copyFileSync(src, dest);
  const indexPath = join(state, 'mirror/pool-index.json');
  const index = JSON.parse(readFileSync(indexPath, 'utf8')) as { version: 1; files: Record<string, unknown> };
  if (as) index.files[rel] = { ...as, source: as.name, size: statSync(dest).size, sha256: sha256(dest), mtimeMs: statSync(dest).mtimeMs };
  else delete index.files[rel];
  writeFileSync(indexPath, JSON.stringify(index));
  const list = new Set([...suiteList(), rel]);
  writeFileSync(join(state, 'mirror/suites/bookworm.list'), [...list].sort().join('\n') + '\n');
}

test.after(() => {
  execFileSync('gpgconf', ['--homedir', join(state, 'gnupg'), '--kill', 'all'], { stdio: 'ignore' });
  rmSync(base, { recursive: true, force: true });
});

test('the crafted files really are read differently by dpkg-deb and apt-ftparchive', () => {
  const dir = join(base, 'probe');
  const two = makeTwoControlDeb(dir, a, b, 'two.deb');
  assert.is(execFileSync('dpkg-deb', ['--field', '--', two, 'Package'], { encoding: 'utf8' }).trim(), 'pkga');
  execFileSync('dpkg-deb', ['--fsys-tarfile', '--', two], { stdio: 'ignore' });
  assert.match(execFileSync('apt-ftparchive', ['packages', '.'], { cwd: dir, encoding: 'utf8' }), /^Package: pkgb$/m);
  const trailing = makeTrailingBytesDeb(join(base, 'probe2'), { name: 'pkgt' }, Buffer.from('trailing!'));
  execFileSync('dpkg-deb', ['--fsys-tarfile', '--', trailing], { stdio: 'ignore' });
  rmSync(dir, { recursive: true });
  rmSync(dirname(trailing), { recursive: true });
});

test('import refuses each hostile layout and control file with its reason; the good files are published', () => {
  makeDeb(archives, { name: 'good1' });
  makeDeb(archives, { name: 'good2', arch: 'all' });
  makeTwoControlDeb(archives, a, b, 'two-same.deb');
  makeTwoControlDeb(archives, a, b, 'two-renamed.deb', 'control.tar.xz');
  makeTrailingBytesDeb(archives, { name: 'pkgt' }, Buffer.from('trailing!'), 'trailing.deb');
  makeTrailingBytesDeb(archives, { name: 'pkgu' }, Buffer.alloc(120, 0x41), 'trailing-long.deb');
  makeDeb(join(archives, 'x'), { name: 'x' });
  // A control file that sets fields the index owns (apt-ftparchive copies SHA1/SHA512/Description-md5 through).
  const ctl = join(base, 'ctl');
  mkdirSync(join(ctl, 'DEBIAN'), { recursive: true });
  writeFileSync(join(ctl, 'DEBIAN/control'), 'Package: owned\nVersion: 1\nArchitecture: amd64\nMaintainer: t <t@example.invalid>\nsha512: 00\nDescription: d\n');
  execFileSync('dpkg-deb', ['--root-owner-group', '--build', ctl, join(archives, 'owned.deb')], { stdio: 'ignore' });
  writeFileSync(join(ctl, 'DEBIAN/control'), 'Package: named\nVersion: 1\nArchitecture: amd64\nMaintainer: t <t@example.invalid>\nFilename: pool/elsewhere.deb\nDescription: d\n');
  execFileSync('dpkg-deb', ['--root-owner-group', '--build', ctl, join(archives, 'named.deb')], { stdio: 'ignore' });

  // A well-formed layout whose data member does not decompress: dpkg-deb's complaint takes two lines.
  const parts = arMembers(readFileSync(makeDeb(join(base, 'corrupt'), { name: 'corrupt', payloadBytes: 4000 })));
  const data = Buffer.from(parts[2]!.data);
  for (let k = 20; k < 60; k++) data[k] = data[k]! ^ 0x55;
  writeFileSync(join(archives, 'corrupt-data.deb'), arArchive([parts[0]!, parts[1]!, { name: parts[2]!.name, data }]));

  const imp = run('mirror', 'import');
  assert.is(imp.code, 1, imp.stdout + imp.stderr);
  assert.match(imp.stdout, 'import: 2 imported, 0 already present, 0 unchanged, 0 conflict(s), 7 rejected');
  const rejected = Object.fromEntries([...imp.stdout.matchAll(/^ {2}rejected: (\S+): (.*)$/gm)].map((m) => [m[1]!.slice(archives.length + 1), m[2]]));
  // dpkg-deb's whole reason, every line (the path is the importer's private copy).
  assert.match(
    rejected['corrupt-data.deb'] ?? '',
    /^corrupt or truncated: decompressing archive '[^']*\.nk-\d+-[0-9a-f]+\.incoming\.deb\.tmp' \(size=\d+\) member 'data\.tar': .+ \/ <decompress> subprocess returned error exit status 2$/,
  );
  delete rejected['corrupt-data.deb'];
  assert.equal(rejected, {
    'named.deb': 'control file sets Filename: the index owns that field (refused)',
    'owned.deb': 'control file sets SHA512: the index owns that field (refused)',
    'trailing-long.deb': 'not a valid .deb: bad ar member header at offset ' + (statSync(join(archives, 'trailing-long.deb')).size - 120) + ': no "`\\n" terminator (bytes after data.tar.gz?)',
    'trailing.deb': `not a valid .deb: 9 unexpected byte(s) after the last member (data.tar.gz) at offset ${statSync(join(archives, 'trailing.deb')).size - 9}`,
    'two-renamed.deb': 'not a valid .deb: control member control.tar.xz after data.tar',
    'two-same.deb': 'not a valid .deb: duplicate ar member control.tar.gz',
  });
  const q = quarantined();
  assert.equal(Object.keys(q).map((f) => f.slice(archives.length + 1)).sort(), ['corrupt-data.deb', 'named.deb', 'owned.deb', 'trailing-long.deb', 'trailing.deb', 'two-renamed.deb', 'two-same.deb']);
  const pub = run('mirror', 'publish');
  assert.is(pub.code, 0, pub.stdout + pub.stderr);
  assert.equal(names(), ['good1', 'good2']);
  assert.not.match(packages(), /^(SHA1|SHA512|Description-md5):/m);
  const ver = run('mirror', 'verify');
  assert.is(ver.code, 0, ver.stdout + ver.stderr);
});

test('a two-control pool file an older importer let in (validated as A, indexed as B) stops the publication before signing', () => {
  const inRelease = join(root, 'dists/bookworm/InRelease');
  const before = readFileSync(inRelease);
  const rel = 'pool/main/p/pkga/pkga_1.0-1_amd64.deb';
  intoPool(makeTwoControlDeb(join(base, 'crafted'), a, b, 'two.deb'), rel, { name: 'pkga', version: '1.0-1', architecture: 'amd64' });
  const file = join(root, rel);
  const size = statSync(file).size;
  const sum = sha256(file).slice(0, 16);
  const pub = run('mirror', 'publish');
  assert.is(pub.code, 1, pub.stdout + pub.stderr);
  const why = `the index names it pkgb 1.0-1 amd64 (${size} bytes, sha256 ${sum}…), nspawn-kit validated it as pkga 1.0-1 amd64 (${size} bytes, sha256 ${sum}…)`;
  assert.match(pub.stderr, `refused to sign bookworm: the index disagrees with what nspawn-kit validated for ${rel} (${why}); quarantined and taken out of the suite; the previous publication is still live`);
  assert.ok(readFileSync(inRelease).equals(before), 'the previous InRelease stays live');
  assert.not.ok(existsSync(join(root, '.staging')) && execFileSync('ls', ['-A', join(root, '.staging')], { encoding: 'utf8' }).trim(), 'no staging left');
  assert.not.ok(suiteList().includes(rel), 'out of the suite list');
  assert.is(quarantined()[file], `bookworm: ${why}`);
  assert.is(run('mirror', 'verify').code, 0, 'the live publication is the previous one, and it verifies');
  // The next publish goes on without it.
  const again = run('mirror', 'publish');
  assert.is(again.code, 0, again.stdout + again.stderr);
  assert.equal(names(), ['good1', 'good2']);
});

test('a pool file whose control sets SHA512 (apt-ftparchive copies it into the index) is refused before signing', () => {
  const inRelease = join(root, 'dists/bookworm/InRelease');
  const before = readFileSync(inRelease);
  const rel = 'pool/main/o/owned/owned_1_amd64.deb';
  intoPool(join(archives, 'owned.deb'), rel, { name: 'owned', version: '1', architecture: 'amd64' });
  const pub = run('mirror', 'publish');
  assert.is(pub.code, 1, pub.stdout + pub.stderr);
  assert.match(pub.stderr, `${rel} (the index entry carries SHA512 taken from the .deb's control file)`);
  assert.ok(readFileSync(inRelease).equals(before));
  assert.is(quarantined()[join(root, rel)], "bookworm: the index entry carries SHA512 taken from the .deb's control file");
  assert.not.ok(suiteList().includes(rel));
});

test('a pool file nspawn-kit never validated is checked in full before signing', () => {
  const inRelease = join(root, 'dists/bookworm/InRelease');
  const before = readFileSync(inRelease);
  const rel = 'pool/main/p/pkgb/pkgb_1.0-1_amd64.deb';
  intoPool(makeTwoControlDeb(join(base, 'crafted2'), { name: 'pkgc' }, b, 'two.deb'), rel);
  const pub = run('mirror', 'publish');
  assert.is(pub.code, 1, pub.stdout + pub.stderr);
  assert.match(pub.stderr, `${rel} (not a valid .deb: duplicate ar member control.tar.gz)`, pub.stderr);
  assert.ok(readFileSync(inRelease).equals(before));
  assert.is(quarantined()[join(root, rel)], 'bookworm: not a valid .deb: duplicate ar member control.tar.gz');
  assert.not.ok(suiteList().includes(rel));
});

test('mirror verify reports a live publication whose pool file has a second control member', () => {
  // The state an older nspawn-kit could leave: the pool index says pkgb, the index says pkgb, dpkg says pkgd.
  const rel = 'pool/main/p/pkgb/pkgb_1.0-1_amd64.deb';
  intoPool(makeTwoControlDeb(join(base, 'crafted3'), { name: 'pkgd' }, b, 'two.deb'), rel, { name: 'pkgb', version: '1.0-1', architecture: 'amd64' });
  const pub = run('mirror', 'publish');
  assert.is(pub.code, 0, pub.stdout + pub.stderr);
  assert.equal(names(), ['good1', 'good2', 'pkgb']);
  const ver = run('mirror', 'verify');
  assert.is(ver.code, 1, ver.stdout + ver.stderr);
  assert.match(ver.stdout, `  - bookworm: ${rel}: not a valid .deb: duplicate ar member control.tar.gz (main/binary-amd64/Packages)`);
});

test.run();
