import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Shell } from '../../src/shell.js';
import { ensureSigningKey, exportedFingerprint, stopGpgAgent } from '../../src/mirror/keys.js';
import { makeConfig } from '../helpers/config.js';

const base = mkdtempSync(join(tmpdir(), 'nk-keys-'));
const ctx = { sh: new Shell({ log: () => {} }), config: makeConfig(base) };

test.after(async () => {
  await stopGpgAgent(ctx);
  rmSync(base, { recursive: true, force: true });
});

test('the published keyring always holds the signing key: a foreign or broken mirror.gpg is re-exported', async () => {
  const fpr = await ensureSigningKey(ctx);
  assert.match(fpr, /^[0-9A-F]{40}$/);
  const keyring = join(base, 'mirror', 'mirror.gpg');
  assert.is(await exportedFingerprint(ctx, keyring), fpr);
  // A different key in its place (a raced first run, a restored backup).
  const other = join(base, 'other');
  execFileSync('mkdir', ['-m', '700', '-p', '--', other]);
  execFileSync('gpg', ['--homedir', other, '--batch', '--passphrase', '', '--quick-gen-key', 'other', 'ed25519', 'sign', 'never'], { stdio: 'ignore' });
  writeFileSync(keyring, execFileSync('gpg', ['--homedir', other, '--batch', '--export']));
  execFileSync('gpgconf', ['--homedir', other, '--kill', 'all']);
  assert.is.not(await exportedFingerprint(ctx, keyring), fpr);
  assert.is(await ensureSigningKey(ctx), fpr);
  assert.is(await exportedFingerprint(ctx, keyring), fpr);
  writeFileSync(keyring, 'garbage');
  assert.is(await ensureSigningKey(ctx), fpr);
  assert.is(await exportedFingerprint(ctx, keyring), fpr);
  assert.match(readFileSync(join(base, 'mirror', 'mirror.asc'), 'utf8'), '-----BEGIN PGP PUBLIC KEY BLOCK-----');
});

test.run();
