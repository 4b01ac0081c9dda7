/**
 * The rendered mirror .sources (deb822, Signed-By) and the first-boot update
 * command line against a real signed repository made at test time, with the
 * real apt-get: it updates without any trusted flag, and refuses a tampered
 * index or a repository signed by another key.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeDeb } from '../helpers/debs.js';
import { exportKey, stopAgent, testKeyring } from '../helpers/gpg.js';
import { renderFirstBootScript } from '../../src/machine/firstboot.js';
import { MIRROR_MOUNT } from '../../src/machine/paths.js';
import { MIRROR_KEYRING, renderMirrorSources } from '../../src/machine/sources.js';

const base = mkdtempSync(join(tmpdir(), 'nk-apt-'));
const repo = join(base, 'repo');
const dists = join(repo, 'dists', 'bookworm');
const bin = join(dists, 'main', 'binary-amd64');

const good = testKeyring(base, 'good');
const evil = testKeyring(base, 'evil');

function publish(signer: NodeJS.ProcessEnv): void {
  rmSync(dists, { recursive: true, force: true });
  mkdirSync(bin, { recursive: true });
  const packages = execFileSync('apt-ftparchive', ['packages', 'pool'], { cwd: repo });
  writeFileSync(join(bin, 'Packages'), packages);
  execFileSync('gzip', ['-k', '--', join(bin, 'Packages')]);
  const conf = ['Suite=bookworm', 'Codename=bookworm', 'Architectures=amd64', 'Components=main'].flatMap((kv) => ['-o', `APT::FTPArchive::Release::${kv}`]);
  const release = execFileSync('apt-ftparchive', [...conf, 'release', '.'], { cwd: dists });
  writeFileSync(join(dists, 'Release'), release);
  execFileSync('gpg', ['--batch', '--yes', '--clearsign', '-o', join(dists, 'InRelease'), join(dists, 'Release')], { env: signer });
}

mkdirSync(join(repo, 'pool', 'main'), { recursive: true });
makeDeb(join(repo, 'pool', 'main'), { name: 'nk-hello', version: '2.0-1' });
publish(good);
const keyAsc = join(base, 'mirror.asc');
writeFileSync(keyAsc, exportKey(good, true));
for (const env of [good, evil]) stopAgent(env);

// The rendered file, with the two in-container paths mapped to the test's.
const sourcesFile = join(base, 'nspawn-kit-mirror.sources');
writeFileSync(sourcesFile, renderMirrorSources(['bookworm'], { kind: 'bind' }).replace(`file:${MIRROR_MOUNT}`, `file:${repo}`).replace(MIRROR_KEYRING, keyAsc));

/** The first-boot script's apt-get update options, taken from the rendered script. */
function firstBootUpdateOptions(): string[] {
  const line = renderFirstBootScript({ machine: 'm', recipe: { name: 'r', steps: [] } }).split('\n').find((l) => l.trim().startsWith('apt-get update'));
  assert.ok(line, 'apt-get update line');
  return line!.trim().split(/\s+/).slice(2).map((w) => w.replace('"$MIRROR_SOURCES"', sourcesFile));
}

function aptUpdate(): { status: number | null; out: string } {
  const state = mkdtempSync(join(base, 'state-'));
  for (const d of ['lists/partial', 'cache/archives/partial', 'trusted.gpg.d']) mkdirSync(join(state, d), { recursive: true });
  const isolate = [
    `Dir::State=${state}`,
    `Dir::Cache=${join(state, 'cache')}`,
    `Dir::Etc::Trusted=${join(state, 'none.gpg')}`,
    `Dir::Etc::TrustedParts=${join(state, 'trusted.gpg.d')}`,
    'APT::Sandbox::User=root',
  ].flatMap((o) => ['-o', o]);
  const res = spawnSync('apt-get', ['update', ...firstBootUpdateOptions(), ...isolate], { encoding: 'utf8' });
  return { status: res.status, out: res.stdout + res.stderr };
}

test('apt-get update from the rendered .sources: verified by Signed-By alone', () => {
  const { status, out } = aptUpdate();
  assert.is(status, 0, out);
  assert.not.match(out, /^(W|E):/m);
  assert.match(out, /bookworm InRelease/);
  assert.not.match(readFileSync(sourcesFile, 'utf8'), /trusted/i);
});

test('a tampered index is refused', () => {
  const packages = join(bin, 'Packages');
  writeFileSync(packages, readFileSync(packages, 'utf8').replace('2.0-1', '9.9-9'));
  execFileSync('gzip', ['-kf', '--', packages]);
  const { status, out } = aptUpdate();
  assert.is(status, 100, out);
  assert.match(out, /Hash Sum mismatch|unexpected size|checksum/i);
  publish(good);
});

test('a repository signed by another key is refused', () => {
  publish(evil);
  const { status, out } = aptUpdate();
  assert.is(status, 100, out);
  assert.match(out, /NO_PUBKEY|not signed|signatures couldn't be verified/);
  publish(good);
});

test.after(() => {
  for (const env of [good, evil]) spawnSync('gpgconf', ['--kill', 'all'], { env });
  rmSync(base, { recursive: true, force: true });
});
test.run();
