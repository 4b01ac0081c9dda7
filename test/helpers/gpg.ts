/** A throwaway ed25519 signing key in its own GNUPGHOME under dir (tests only). */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

/** Creates `<dir>/<name>` as a GNUPGHOME holding one new key; returns the env that selects it. */
export function testKeyring(dir: string, name = 'nk-test'): NodeJS.ProcessEnv {
  const home = join(dir, name);
  mkdirSync(home, { mode: 0o700 });
  const env = { ...process.env, GNUPGHOME: home };
  execFileSync('gpg', ['--batch', '--quiet', '--passphrase', '', '--quick-gen-key', `${name} <${name}@example.invalid>`, 'ed25519', 'sign', 'never'], { env, stdio: 'ignore' });
  return env;
}

/** The public key of a testKeyring: armored (.asc) or binary (.gpg). */
export function exportKey(env: NodeJS.ProcessEnv, armored: boolean): Buffer {
  return execFileSync('gpg', ['--export', ...(armored ? ['--armor'] : [])], { env });
}

/** Stops the keyring's gpg-agent (started by the key generation). */
export function stopAgent(env: NodeJS.ProcessEnv): void {
  spawnSync('gpgconf', ['--kill', 'all'], { env });
}
