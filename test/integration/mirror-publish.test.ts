/**
 * Publishing against the real tools: apt-ftparchive, gpg, gpgv, xz.
 * Pools and suite lists are built here the way the importer lays them out.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { Shell } from '../../src/shell.js';
import type { MirrorContext } from '../../src/mirror/context.js';
import { mirrorLayout, poolRelativePath, suiteListPath } from '../../src/mirror/layout.js';
import { ensureSigningKey, stopGpgAgent } from '../../src/mirror/keys.js';
import { publishMirror } from '../../src/mirror/publish.js';
import { verifyMirror } from '../../src/mirror/verify.js';
import { mirrorStatus, formatStatus } from '../../src/mirror/status.js';
import { clearsignedText, parseRelease, parseStanzas } from '../../src/mirror/release.js';
import { makeConfig } from '../helpers/config.js';
import { makeDeb, type DebSpec } from '../helpers/debs.js';

const made: Array<{ base: string; ctx: MirrorContext }> = [];

function newMirror(architectures = ['amd64'], graceHours = 48, dryRun = false) {
  const base = mkdtempSync(join(tmpdir(), 'nk-pub-'));
  const config = makeConfig(base);
  config.mirror.architectures = architectures;
  config.mirror.graceHours = graceHours;
  const lines: string[] = [];
  const ctx: MirrorContext = { sh: new Shell({ dryRun, log: (l) => lines.push(l) }), config, log: (l) => lines.push(l) };
  made.push({ base, ctx });
  return { base, ctx, lines, layout: mirrorLayout(config) };
}

/** Builds .debs and files them into the pool and the suite list, as the importer does. */
function addDebs(ctx: MirrorContext, specs: DebSpec[], codename = 'bookworm'): string[] {
  const layout = mirrorLayout(ctx.config);
  const rels = specs.map((spec) => {
    const deb = makeDeb(join(ctx.config.stateDir, '..', 'debs'), spec);
    const rel = poolRelativePath({ name: spec.name, source: spec.source, version: spec.version ?? '1.0-1', architecture: spec.arch ?? 'amd64' });
    mkdirSync(dirname(join(layout.root, rel)), { recursive: true });
    copyFileSync(deb, join(layout.root, rel));
    return rel;
  });
  const list = suiteListPath(layout, codename);
  const old = existsSync(list) ? readFileSync(list, 'utf8').split('\n').filter(Boolean) : [];
  mkdirSync(dirname(list), { recursive: true });
  writeFileSync(list, [...new Set([...old, ...rels])].sort().join('\n') + '\n');
  return rels;
}

function packagesOf(root: string, codename: string, arch: string) {
  return parseStanzas(readFileSync(join(root, 'dists', codename, 'main', `binary-${arch}`, 'Packages'), 'utf8'));
}

test('first publish: key, indices in three forms, by-hash, signed Release, records; every member listed once', async () => {
  const { ctx, layout } = newMirror(['amd64', 'arm64']);
  const rels = addDebs(ctx, [
    { name: 'hello', version: '2.10-3' },
    { name: 'libfoo1', source: 'libfoo', version: '2:1.2-3' },
    { name: 'docs', arch: 'all' },
    { name: 'armonly', arch: 'arm64' },
    ...Array.from({ length: 20 }, (_, i) => ({ name: `bulk${i}` })),
  ]);
  const report = await publishMirror(ctx);
  // The release's update suites are published too, empty while nothing is listed there.
  assert.equal(report.suites.map((s) => [s.codename, s.packages]), [['bookworm', rels.length], ['bookworm-security', 0], ['bookworm-updates', 0]]);
  const suite = report.suites[0]!;
  assert.is(suite.packages, rels.length);
  assert.ok(suite.bytes > 0);
  assert.match(suite.inReleaseSha256, /^[0-9a-f]{64}$/);
  assert.match(report.fingerprint, /^[0-9A-F]{40}$/);

  for (const arch of ['amd64', 'arm64']) {
    const names = packagesOf(layout.root, 'bookworm', arch).map((s) => s['Filename']);
    const expected = rels.filter((r) => r.endsWith(`_${arch}.deb`) || r.endsWith('_all.deb')).sort();
    assert.equal([...names].sort(), expected, `binary-${arch} lists exactly its members`);
    for (const stanza of packagesOf(layout.root, 'bookworm', arch)) {
      assert.match(stanza['SHA256'] ?? '', /^[0-9a-f]{64}$/);
      assert.match(stanza['MD5sum'] ?? '', /^[0-9a-f]{32}$/);
      assert.is(stanza['SHA1'], undefined, 'the checksums of Debian\'s own Packages: MD5sum and SHA256');
      assert.is(stanza['SHA512'], undefined);
    }
    assert.is(new Set(names).size, names.length, 'no duplicates');
    const dir = join(layout.root, 'dists/bookworm/main', `binary-${arch}`);
    const plain = readFileSync(join(dir, 'Packages'));
    assert.ok(gunzipSync(readFileSync(join(dir, 'Packages.gz'))).equals(plain));
    assert.ok(execFileSync('xz', ['-dc', join(dir, 'Packages.xz')]).equals(plain));
  }
  const rel = parseRelease(readFileSync(join(layout.root, 'dists/bookworm/Release'), 'utf8'));
  assert.is(rel.fields['Acquire-By-Hash'], 'yes');
  assert.is(rel.fields['Architectures'], 'amd64 arm64');
  assert.is(rel.sha256.length, 6);
  for (const e of rel.sha512) {
    const byHash = join(layout.root, 'dists/bookworm', dirname(e.path), 'by-hash/SHA512', e.hash);
    assert.is(statSync(byHash).size, e.size, `${e.path} by-hash copy`);
  }
  // InRelease and Release carry the same text; the key files have the right formats.
  assert.is(clearsignedText(readFileSync(join(layout.root, 'dists/bookworm/InRelease'), 'utf8')), readFileSync(join(layout.root, 'dists/bookworm/Release'), 'utf8'));
  assert.match(readFileSync(layout.publicKeyAsc, 'utf8'), /^-----BEGIN PGP PUBLIC KEY BLOCK-----/);
  assert.not.match(readFileSync(layout.publicKeyring).subarray(0, 40).toString('latin1'), 'BEGIN PGP');
  assert.is(statSync(layout.gnupgHome).mode & 0o777, 0o700);
  // No staging leftovers, a record for gc.
  assert.equal(readdirSync(join(layout.root, '.staging')), []);
  const records = readdirSync(join(layout.publications, 'bookworm'));
  assert.is(records.filter((r) => r.endsWith('.files')).length, 1);
  const recorded = readFileSync(join(layout.publications, 'bookworm', records.find((r) => r.endsWith('.files'))!), 'utf8').trim().split('\n');
  assert.equal(recorded, [...rels].sort());

  const verified = await verifyMirror(ctx);
  assert.equal(verified.problems, []);
  assert.is(verified.suites[0]!.packages, rels.length + 1, 'the arch:all package is listed for both architectures');
  assert.is(await ensureSigningKey(ctx), report.fingerprint, 'the key is made once');
});

test('a suite indexed by several apt-ftparchive processes publishes the indices one process makes, each part with its own cache', async () => {
  const { ctx, layout } = newMirror(['amd64', 'arm64']);
  addDebs(ctx, [
    { name: 'docs', arch: 'all' },
    { name: 'armonly', arch: 'arm64' },
    { name: 'libfoo1', source: 'libfoo', version: '2:1.2-3' },
    ...Array.from({ length: 9 }, (_, i) => ({ name: `split${i}` })),
  ]);
  const indexFiles = () =>
    ['amd64', 'arm64'].map((arch) => {
      const dir = join(layout.root, 'dists/bookworm/main', `binary-${arch}`);
      const plain = readFileSync(join(dir, 'Packages'));
      assert.ok(gunzipSync(readFileSync(join(dir, 'Packages.gz'))).equals(plain));
      assert.ok(execFileSync('xz', ['-dc', join(dir, 'Packages.xz')]).equals(plain));
      return plain.toString('utf8');
    });
  const one = await publishMirror(ctx, { indexParts: 1 });
  const single = indexFiles();
  rmSync(layout.cache, { recursive: true, force: true });
  const three = await publishMirror(ctx, { indexParts: 3 });
  assert.equal(indexFiles(), single, 'same bytes, same order');
  assert.is(three.suites[0]!.packages, one.suites[0]!.packages);
  assert.is(three.suites[0]!.bytes, one.suites[0]!.bytes);
  assert.equal(readdirSync(layout.cache).filter((f) => f.endsWith('.db')).sort(), ['packages-1.db', 'packages-2.db', 'packages.db']);
  assert.equal(readdirSync(join(layout.root, '.staging')), []);
  // Warm caches, and a list that shifted between parts: still the same index.
  const again = await publishMirror(ctx, { indexParts: 2 });
  assert.equal(indexFiles(), single);
  assert.is(again.suites[0]!.packages, one.suites[0]!.packages);
  assert.equal((await verifyMirror(ctx)).problems, []);

  // A bad .deb in the last part is quarantined by name (issue 11: one bad file never takes a
  // suite down); the rest, indexed again by three processes, is the same index as before.
  const [bad] = addDebs(ctx, [{ name: 'zzbroken' }]);
  writeFileSync(join(layout.root, bad!), 'garbage, not an ar archive');
  const dropped = await publishMirror(ctx, { indexParts: 3 });
  assert.equal(dropped.suites[0]!.quarantined, [{ file: bad!, reason: 'apt-ftparchive could not index it: E: Invalid archive signature' }]);
  assert.equal(indexFiles(), single);
  assert.equal(readdirSync(join(layout.root, '.staging')), []);
  assert.equal((await verifyMirror(ctx)).problems, []);
});

test('a large index is xz-compressed in one block per CPU: one stream, read back by xz and by apt', async () => {
  const { ctx, layout } = newMirror();
  // One huge Depends field makes a 1.2 MB Packages file out of two .debs.
  addDebs(ctx, [{ name: 'big', depends: Array.from({ length: 120_000 }, (_, i) => `dep${i}`).join(', ') }, { name: 'small' }]);
  await publishMirror(ctx);
  const dir = join(layout.root, 'dists/bookworm/main/binary-amd64');
  const plain = readFileSync(join(dir, 'Packages'));
  assert.ok(plain.length > 1024 * 1024, `${plain.length} bytes`);
  const xz = join(dir, 'Packages.xz');
  const list = execFileSync('xz', ['-lvv', '--robot', '--', xz], { encoding: 'utf8' }).split('\n');
  assert.is(list.filter((l) => l.startsWith('stream\t')).length, 1);
  const blocks = list.filter((l) => l.startsWith('block\t')).length;
  assert.is(blocks, Math.max(1, Math.min(availableParallelism(), Math.floor(plain.length / (256 * 1024)))));
  if (availableParallelism() > 1) assert.ok(blocks > 1, `${blocks} blocks`);
  assert.ok(execFileSync('xz', ['-dc', '--', xz], { maxBuffer: 1 << 26 }).equals(plain));
  assert.ok(execFileSync('/usr/lib/apt/apt-helper', ['cat-file', xz], { maxBuffer: 1 << 26 }).equals(plain), 'apt decompresses it');
  assert.equal((await verifyMirror(ctx)).problems, []);
});

test('a corrupt .deb in the pool is reported by name with the indexer\'s message and never indexed; the rest is published', async () => {
  const { ctx, layout } = newMirror();
  addDebs(ctx, [{ name: 'good' }]);
  const first = await publishMirror(ctx);
  const [bad] = addDebs(ctx, [{ name: 'broken' }]);
  writeFileSync(join(layout.root, bad!), 'garbage, not an ar archive');
  const report = await publishMirror(ctx);
  assert.equal(report.suites[0]!.quarantined, [{ file: bad!, reason: 'apt-ftparchive could not index it: E: Invalid archive signature' }]);
  assert.is(report.suites[0]!.packages, 1);
  assert.equal(packagesOf(layout.root, 'bookworm', 'amd64').map((p) => p['Package']), ['good']);
  assert.not.match(readFileSync(suiteListPath(layout, 'bookworm'), 'utf8'), 'broken');
  assert.equal((await verifyMirror(ctx)).problems, []);
  assert.is(first.suites[0]!.packages, 1);
});

test('hostile pool file names are indexed as data and run nothing; a name with a space is refused', async () => {
  const { base, ctx, layout } = newMirror();
  // No spaces (those are refused, see below); a shell would run these from mirror.root or the cwd.
  const names = ['--version_1_amd64.deb', '$(touch${IFS}PWNED)_1_amd64.deb', '`touch${IFS}PWNED`;_1_amd64.deb'];
  const rels = names.map((n) => `pool/main/h/hostile/${n}`);
  for (const [i, rel] of rels.entries()) {
    const deb = makeDeb(join(base, 'debs'), { name: `hostile${i}` });
    mkdirSync(dirname(join(layout.root, rel)), { recursive: true });
    copyFileSync(deb, join(layout.root, rel));
  }
  mkdirSync(layout.suites, { recursive: true });
  writeFileSync(suiteListPath(layout, 'bookworm'), rels.sort().join('\n') + '\n');
  const report = await publishMirror(ctx);
  assert.is(report.suites[0]!.packages, 3);
  assert.equal(packagesOf(layout.root, 'bookworm', 'amd64').map((s) => s['Filename']).sort(), rels.sort());
  for (const dir of [base, layout.root, process.cwd()]) assert.not.ok(existsSync(join(dir, 'PWNED')), 'no command ran');
  assert.equal((await verifyMirror(ctx)).problems, []);
  writeFileSync(suiteListPath(layout, 'bookworm'), 'pool/main/a/a b/a b.deb\n');
  const err = await publishMirror(ctx).then(() => undefined, (e: Error) => e);
  assert.match(err?.message ?? '', /not pool paths/);
});

test('dry run prints the plan and changes nothing', async () => {
  const { ctx, layout, lines } = newMirror(['amd64'], 48, true);
  mkdirSync(layout.suites, { recursive: true });
  writeFileSync(suiteListPath(layout, 'bookworm'), 'pool/main/h/hello/hello_1.0-1_amd64.deb\n');
  const report = await publishMirror(ctx);
  assert.ok(report.dryRun);
  assert.is(report.suites[0]!.packages, 1);
  assert.not.ok(existsSync(layout.root), 'mirror root not created');
  assert.not.ok(existsSync(layout.gnupgHome), 'no key generated');
  const plan = lines.join('\n');
  assert.match(plan, /\[dry-run\] gpg .*--quick-gen-key/);
  assert.match(plan, /\[dry-run\] apt-ftparchive .*generate/);
});

test('republishing: old by-hash files stay for recent publications, older ones go when out of grace', async () => {
  const { ctx, layout } = newMirror(['amd64'], 0);
  const inReleases: string[] = [];
  for (let i = 0; i < 8; i++) {
    addDebs(ctx, [{ name: `gen${i}` }]);
    await publishMirror(ctx);
    inReleases.push(readFileSync(join(layout.root, 'dists/bookworm/InRelease'), 'utf8'));
  }
  const resolves = (text: string) =>
    parseRelease(clearsignedText(text)).sha256.every((e) => existsSync(join(layout.root, 'dists/bookworm', dirname(e.path), 'by-hash/SHA256', e.hash)));
  assert.ok(resolves(inReleases[7]!), 'current');
  assert.ok(resolves(inReleases[4]!), 'three publishes ago');
  assert.not.ok(resolves(inReleases[0]!), 'pruned: graceHours is 0 and it is older than the kept publications');
  assert.is(readdirSync(join(layout.publications, 'bookworm')).filter((r) => r.endsWith('.files')).length, 5);
  assert.equal((await verifyMirror(ctx)).problems, []);
});

test('status and verify report what is there and what is wrong', async () => {
  const { ctx, layout } = newMirror();
  const [hello] = addDebs(ctx, [{ name: 'hello', payloadBytes: 5000 }, { name: 'world' }]);
  const report = await publishMirror(ctx);
  writeFileSync(layout.quarantine, JSON.stringify([{ file: '/var/cache/apt/archives/bad.deb', reason: 'truncated', time: '2026-01-01T00:00:00Z' }]));
  const status = await mirrorStatus(ctx);
  assert.is(status.fingerprint, report.fingerprint);
  assert.is(status.suites[0]!.packages, 2);
  assert.is(status.suites[0]!.members, 2);
  assert.is(status.suites[0]!.bytes, report.suites[0]!.bytes);
  assert.ok(status.suites[0]!.validUntil! > new Date(Date.now() + 13 * 86400e3).toISOString());
  assert.is(status.quarantined[0]!.reason, 'truncated');
  assert.match(formatStatus(status), /bookworm: 2 packages/);

  const later = await verifyMirror(ctx, { now: new Date(Date.now() + 15 * 86400e3) });
  assert.ok(later.problems.some((p) => /expired/.test(p)), 'Valid-Until is enforced');
  writeFileSync(join(layout.root, hello!), 'swapped pool file');
  const swapped = await verifyMirror(ctx);
  assert.not.ok(swapped.ok);
  assert.ok(swapped.problems.some((p) => p.includes(hello!) && /size/.test(p)), swapped.problems.join('\n'));
  const inRelease = join(layout.root, 'dists/bookworm/InRelease');
  writeFileSync(inRelease, readFileSync(inRelease, 'utf8').replace('Suite: bookworm', 'Suite: bookwurm'));
  const forged = await verifyMirror(ctx);
  assert.ok(forged.problems.some((p) => /InRelease: bad or missing signature/.test(p)), forged.problems.join('\n'));
});

test.after(async () => {
  for (const { base, ctx } of made) {
    await stopGpgAgent(ctx);
    rmSync(base, { recursive: true, force: true });
  }
});

test.run();
