/**
 * primaryKeys reads the signing key out of `gpg --with-colons --with-keygrip
 * --list-keys`: the primary key's fingerprint and keygrip, never a subkey's.
 * Against the real gpg: expected values come from gpg's own status lines and
 * its private-keys-v1.d, not from the parser.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { primaryKeys } from '../../src/mirror/keys.js';

const base = mkdtempSync(join(tmpdir(), 'nk-colons-'));
const home = join(base, 'gnupg');
mkdirSync(home, { mode: 0o700 });
const env = { ...process.env, GNUPGHOME: home };
const gpg = (...args: string[]) => execFileSync('gpg', ['--batch', '--quiet', '--passphrase', '', '--status-fd', '1', ...args], { env, encoding: 'utf8' });
const created = (status: string) => /^\[GNUPG:\] KEY_CREATED ([PBS]) ([0-9A-F]{40})$/m.exec(status)?.filter((_, i) => i > 0) ?? [];

test.after(() => {
  spawnSync('gpgconf', ['--kill', 'all'], { env });
  rmSync(base, { recursive: true, force: true });
});

test('the primary key of a key with a subkey: its fingerprint and keygrip only', () => {
  const [kind, primary] = created(gpg('--quick-gen-key', 'nk <nk@example.invalid>', 'ed25519', 'sign', 'never'));
  assert.is(kind, 'P');
  const before = new Set(readdirSync(join(home, 'private-keys-v1.d')));
  const [subKind, sub] = created(gpg('--quick-add-key', primary!, 'cv25519', 'encr', 'never'));
  assert.is(subKind, 'S');
  assert.is.not(sub, primary);
  const subGrips = readdirSync(join(home, 'private-keys-v1.d')).filter((f) => !before.has(f));
  assert.is(subGrips.length, 1, 'the subkey has a key file of its own');
  assert.is(before.size, 1, 'the primary key has one key file');

  const colons = gpg('--with-colons', '--with-keygrip', '--list-keys');
  const keys = primaryKeys(colons);
  assert.equal(keys.map((k) => k.fingerprint), [primary]);
  assert.equal(keys.map((k) => `${k.keygrip}.key`), [...before]);
  assert.ok(existsSync(join(home, 'private-keys-v1.d', `${keys[0]!.keygrip}.key`)));
  assert.is.not(`${keys[0]!.keygrip}.key`, subGrips[0]);
});

test('records without a 40-hex fingerprint and keygrip are no key', () => {
  assert.equal(primaryKeys(''), []);
  assert.equal(primaryKeys(['pub:u:255:22:AAAA:1:::u:::scESC:::::ed25519:::0:', 'fpr:::::::::SHORT:', 'grp:::::::::ALSOSHORT:'].join('\n')), []);
});

test.run();
