/**
 * Repository keys with real gpg: only public key material reaches a root.
 * A key file with trailing junk and an appended secret key is accepted by
 * `nspawn-kit config` and installed as the public key alone (the same
 * `gpg --show-keys` as the exported public key, no secret packet, no junk);
 * a key file without a public key is refused by `nspawn-kit config` (exit 2,
 * key path, why) before anything is built.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from '../helpers/cli.js';
import { makeConfig, makeRecipe } from '../helpers/config.js';
import { exportKey, stopAgent, testKeyring } from '../helpers/gpg.js';
import { Shell } from '../../src/shell.js';
import { injectFirstBoot } from '../../src/machine/inject.js';

const isRoot = process.getuid?.() === 0;
const base = mkdtempSync(join(tmpdir(), 'nk-inject-keys-'));
const config = makeConfig(base);
const keys = join(base, 'keys');
mkdirSync(keys);

// The repository's key pair, and a mirror key for the injection.
const repoEnv = testKeyring(base, 'repo-gnupg');
const PUBLIC_ASC = exportKey(repoEnv, true);
const PUBLIC_GPG = exportKey(repoEnv, false);
const SECRET_ASC = execFileSync('gpg', ['--batch', '--pinentry-mode', 'loopback', '--passphrase', '', '--export-secret-keys', '--armor'], { env: repoEnv });
const SECRET_GPG = execFileSync('gpg', ['--batch', '--pinentry-mode', 'loopback', '--passphrase', '', '--export-secret-keys'], { env: repoEnv });
stopAgent(repoEnv);
{
  const env = testKeyring(base, 'mirror-gnupg');
  mkdirSync(config.mirror.root, { recursive: true });
  writeFileSync(join(config.mirror.root, 'mirror.asc'), exportKey(env, true));
  stopAgent(env);
}

const JUNK = 'Trailing text: not a key.\n-----BEGIN PGP SIGNATURE-----\nnot really\n-----END PGP SIGNATURE-----\n';
writeFileSync(join(keys, 'mixed.asc'), Buffer.concat([PUBLIC_ASC, Buffer.from(JUNK), SECRET_ASC, Buffer.from('more junk\n')]));
writeFileSync(join(keys, 'mixed.gpg'), Buffer.concat([PUBLIC_GPG, SECRET_GPG]));
writeFileSync(join(keys, 'public.asc'), PUBLIC_ASC);
writeFileSync(join(keys, 'junk.asc'), JUNK);
writeFileSync(join(keys, 'secret-only.asc'), SECRET_ASC);

/** `gpg --show-keys` of a file, in a throwaway homedir (fingerprints, uids, no secret marker). */
function showKeys(file: string): string {
  const home = mkdtempSync(join(tmpdir(), 'nk-show-'));
  try {
    const r = spawnSync('gpg', ['--homedir', home, '--batch', '--no-autostart', '--with-colons', '--show-keys', file], { encoding: 'utf8' });
    assert.is(r.status, 0, r.stderr);
    // Creation-independent lines: key records, fingerprints, uids.
    return r.stdout
      .split('\n')
      .filter((l) => /^(pub|sec|sub|ssb|fpr|uid):/.test(l))
      .join('\n');
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

let n = 0;
function fakeRoot(): string {
  const root = join(base, `root${++n}`);
  for (const d of ['etc/apt/sources.list.d', 'usr/bin', 'usr/lib']) mkdirSync(join(root, d), { recursive: true });
  symlinkSync('usr/bin', join(root, 'bin'));
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\n');
  writeFileSync(join(root, 'etc/shadow'), 'root:*:19000:0:99999:7:::\n', { mode: 0o640 });
  writeFileSync(join(root, 'etc/group'), 'root:x:0:\n');
  writeFileSync(join(root, 'usr/lib/os-release'), 'ID=debian\n');
  return root;
}

const repo = (name: string, key: string) => ({ name, uri: 'https://example.org/apt', suite: 'stable', components: ['main'], key, enabled: true });

test('a key file with junk and a secret key: only the public key is installed (armored and binary)', async () => {
  if (!isRoot) return console.log('  (skipped: chown needs root)');
  const root = fakeRoot();
  const recipe = makeRecipe({ repositories: [repo('armored', join(keys, 'mixed.asc')), repo('binary', join(keys, 'mixed.gpg'))] });
  const report = await injectFirstBoot({ sh: new Shell({ log: () => undefined }), config }, root, recipe, 'box', { mirrorAccess: { kind: 'bind' } });
  assert.ok(report.written.includes('/etc/apt/keyrings/armored.asc') && report.written.includes('/etc/apt/keyrings/binary.gpg'), report.written.join('\n'));

  const expected = showKeys(join(keys, 'public.asc'));
  assert.match(expected, /^pub:/m);
  assert.match(showKeys(join(keys, 'mixed.asc')), /^sec:/m, 'the fixture does hold a secret key');
  for (const installed of ['etc/apt/keyrings/armored.asc', 'etc/apt/keyrings/binary.gpg']) {
    assert.is(showKeys(join(root, installed)), expected, installed);
  }
  const armored = readFileSync(join(root, 'etc/apt/keyrings/armored.asc'), 'utf8');
  assert.ok(armored.startsWith('-----BEGIN PGP PUBLIC KEY BLOCK-----\n'), armored);
  assert.ok(armored.trimEnd().endsWith('-----END PGP PUBLIC KEY BLOCK-----'), armored);
  assert.is(armored.match(/-----BEGIN /g)?.length, 1);
  assert.not.match(armored, /PRIVATE|junk|Trailing/);
  // The binary keyring holds no secret-key packet (tags 5 and 7, old or new format).
  const listed = spawnSync('gpg', ['--list-packets', join(root, 'etc/apt/keyrings/binary.gpg')], { encoding: 'utf8' }).stdout;
  assert.match(listed, /:public key packet:/);
  assert.not.match(listed, /secret (sub)?key packet/);
  assert.match(readFileSync(join(root, 'etc/apt/sources.list.d/armored.sources'), 'utf8'), /^Signed-By: \/etc\/apt\/keyrings\/armored\.asc$/m);
});

test('nspawn-kit config: a key file without a public key is exit 2 with its key path; junk or a secret key beside the public key is fine', () => {
  const dir = join(base, 'cfg');
  mkdirSync(dir);
  const cfg = (repositories: unknown[]) =>
    writeFileSync(join(dir, '.nspawnrc.json'), JSON.stringify({ stateDir: join(base, 'state'), mirror: { root: join(base, 'mirror') }, recipes: { r: { repositories } } }));
  cfg([repo('a', join(keys, 'junk.asc')), repo('b', join(keys, 'secret-only.asc')), repo('c', join(keys, 'mixed.asc')), repo('d', join(keys, 'not-downloaded-yet.asc'))]);
  const bad = cli(['--config', '.nspawnrc.json', 'config'], { cwd: dir });
  assert.is(bad.code, 2, bad.stderr);
  const problems = bad.stderr.split('\n').filter((l) => l.startsWith('  - ')).map((l) => l.slice(4));
  const why = 'holds no OpenPGP public key (armored "-----BEGIN PGP PUBLIC KEY BLOCK-----" or binary); export the public key with `gpg --export --armor KEYID`';
  assert.equal(problems, [
    `${dir}/.nspawnrc.json: recipes.r.repositories[0].key: ${join(keys, 'junk.asc')} ${why}`,
    `${dir}/.nspawnrc.json: recipes.r.repositories[1].key: ${join(keys, 'secret-only.asc')} ${why}`,
  ]);
  cfg([repo('c', join(keys, 'mixed.asc')), repo('e', join(keys, 'mixed.gpg'))]);
  const ok = cli(['--config', '.nspawnrc.json', 'config'], { cwd: dir });
  assert.is(ok.code, 0, ok.stderr);
});

test.after(() => rmSync(base, { recursive: true, force: true }));
test.run();
