/**
 * A real apt client against the published mirror over file://: a private
 * apt root, a deb822 source with Signed-By the mirror's .asc, no trusted
 * flags. It updates and downloads; tampered indices or InRelease make it fail.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Shell } from '../../src/shell.js';
import type { MirrorContext } from '../../src/mirror/context.js';
import { mirrorLayout, poolRelativePath, suiteListPath } from '../../src/mirror/layout.js';
import { stopGpgAgent } from '../../src/mirror/keys.js';
import { publishMirror } from '../../src/mirror/publish.js';
import { makeConfig } from '../helpers/config.js';
import { makeDeb, type DebSpec } from '../helpers/debs.js';
import { privateAptOptions } from '../helpers/apt.js';

const base = mkdtempSync(join(tmpdir(), 'nk-apt-'));
const config = makeConfig(base);
const ctx: MirrorContext = { sh: new Shell({ log: () => {} }), config };
const layout = mirrorLayout(config);

function addDebs(specs: DebSpec[]): void {
  const rels = specs.map((spec) => {
    const rel = poolRelativePath({ name: spec.name, source: spec.source, version: spec.version ?? '1.0-1', architecture: spec.arch ?? 'amd64' });
    mkdirSync(dirname(join(layout.root, rel)), { recursive: true });
    copyFileSync(makeDeb(join(base, 'debs'), spec), join(layout.root, rel));
    return rel;
  });
  mkdirSync(layout.suites, { recursive: true });
  writeFileSync(suiteListPath(layout, 'bookworm'), rels.sort().join('\n') + '\n');
}

/** A throw-away apt root that trusts only the mirror's key, for this source only. */
function aptClient(uri: string) {
  const dir = mkdtempSync(join(base, 'apt-'));
  for (const d of ['parts', 'state/lists/partial', 'cache/archives/partial', 'empty', 'out']) mkdirSync(join(dir, d), { recursive: true });
  writeFileSync(join(dir, 'status'), '');
  writeFileSync(
    join(dir, 'parts', 'mirror.sources'),
    ['Types: deb', `URIs: ${uri}`, 'Suites: bookworm', 'Components: main', `Signed-By: ${layout.publicKeyAsc}`, ''].join('\n'),
  );
  const opts = privateAptOptions(dir);
  const run = (...args: string[]) => {
    const r = spawnSync('apt-get', [...opts, ...args], { cwd: join(dir, 'out'), encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
    return { code: r.status, out: `${r.stdout}\n${r.stderr}` };
  };
  return { dir, run };
}

test('apt-get update and download from the signed mirror (file://, Signed-By, no trusted flags)', async () => {
  addDebs([{ name: 'hello', version: '2.10-3' }, { name: 'libfoo1', source: 'libfoo', version: '2:1.2-3' }, { name: 'docs', arch: 'all' }]);
  await publishMirror(ctx);
  const apt = aptClient(`file://${layout.root}`);
  const update = apt.run('update');
  assert.is(update.code, 0, update.out);
  assert.not.match(update.out, /^(W|E):/m);
  const dl = apt.run('download', 'hello', 'libfoo1', 'docs');
  assert.is(dl.code, 0, dl.out);
  const got = readdirSync(join(apt.dir, 'out')).sort();
  assert.equal(got, ['docs_1.0-1_all.deb', 'hello_2.10-3_amd64.deb', 'libfoo1_2%3a1.2-3_amd64.deb']);
  assert.ok(readFileSync(join(apt.dir, 'out', 'hello_2.10-3_amd64.deb')).equals(readFileSync(join(layout.root, 'pool/main/h/hello/hello_2.10-3_amd64.deb'))));
});

test('tampered Packages (every copy a client could fetch) makes apt fail', async () => {
  await publishMirror(ctx);
  const bin = join(layout.root, 'dists/bookworm/main/binary-amd64');
  const saved = new Map<string, Buffer>();
  const forged = readFileSync(join(bin, 'Packages'), 'utf8').replace(/^Version: 2\.10-3$/m, 'Version: 9.99-1');
  const targets: Array<[string, Buffer]> = [
    [join(bin, 'Packages'), Buffer.from(forged)],
    [join(bin, 'Packages.gz'), gzipSync(forged)],
    [join(bin, 'Packages.xz'), spawnSync('xz', ['-c'], { input: forged }).stdout],
  ];
  for (const algo of ['SHA256', 'SHA512']) {
    for (const f of readdirSync(join(bin, 'by-hash', algo))) targets.push([join(bin, 'by-hash', algo, f), Buffer.from(forged)]);
  }
  for (const [path, data] of targets) {
    saved.set(path, readFileSync(path));
    writeFileSync(path, data);
  }
  try {
    const apt = aptClient(`file://${layout.root}`);
    const update = apt.run('update');
    assert.ok(update.code !== 0 || /^E:/m.test(update.out), update.out);
    assert.match(update.out, /Hash Sum mismatch|File has unexpected size/);
    assert.not.match(apt.run('download', 'hello').out, /9\.99-1/);
  } finally {
    for (const [path, data] of saved) writeFileSync(path, data);
  }
});

test('tampered InRelease makes apt fail; the untampered mirror works again', async () => {
  const inRelease = join(layout.root, 'dists/bookworm/InRelease');
  const original = readFileSync(inRelease, 'utf8');
  writeFileSync(inRelease, original.replace(/^Valid-Until: .*$/m, 'Valid-Until: Fri, 01 Jan 2100 00:00:00 UTC'));
  const apt = aptClient(`file://${layout.root}`);
  const update = apt.run('update');
  assert.ok(update.code !== 0 || /^E:/m.test(update.out), update.out);
  assert.match(update.out, /signatures were invalid: BADSIG/);
  const hasLists = readdirSync(join(apt.dir, 'state/lists')).some((f) => f.endsWith('_Packages'));
  assert.not.ok(hasLists, 'no index accepted from a forged InRelease');
  writeFileSync(inRelease, original);
  assert.is(aptClient(`file://${layout.root}`).run('update').code, 0);
});

test.after(async () => {
  await stopGpgAgent(ctx);
  rmSync(base, { recursive: true, force: true });
});

test.run();
