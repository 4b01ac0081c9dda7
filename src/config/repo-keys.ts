/**
 * Repository keys of recipes, normalised: only public key material ever
 * reaches a container. The key file is imported into a throwaway gpg
 * keyring (its own homedir, no agent: a secret key cannot even be imported)
 * and the public keys are exported again, armored when the file was armored,
 * binary otherwise. Trailing text, a secret key block or any other packet of
 * the file never reaches the root; a file with no public key is an error.
 *
 * Synchronous (a read-only check): configuration validation runs it too,
 * so a key file without a public key is refused before anything is built.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, PreflightError } from '../errors.js';
import { readTrusted } from './strict-modes.js';

export interface PublicKeys {
  /** The exported public keys, nothing else. */
  content: Buffer;
  format: 'asc' | 'gpg';
  /** Fingerprints of the primary keys. */
  fingerprints: string[];
}

const ARMOR_BLOCK = /-----BEGIN PGP PUBLIC KEY BLOCK-----\r?\n[\s\S]*?\r?\n-----END PGP PUBLIC KEY BLOCK-----/g;
/** A key file larger than this is not a key file. */
export const MAX_KEY_FILE = 1 << 20;

/** armored (.asc) or binary (.gpg) OpenPGP public key, decided by content, not by name. */
export function keyFormat(content: Buffer): 'asc' | 'gpg' | undefined {
  const head = content.subarray(0, 64).toString('latin1').trimStart();
  if (head.startsWith('-----BEGIN PGP PUBLIC KEY BLOCK-----')) return 'asc';
  // First packet must be a public key: old-format tag 6 (0x98-0x9b) or new-format 0xc6.
  const first = content[0];
  if (first !== undefined && ((first & 0xfc) === 0x98 || first === 0xc6)) return 'gpg';
  return undefined;
}

function gpg(home: string, args: string[], input?: Buffer): { status: number | null; stdout: Buffer } {
  const r = spawnSync('gpg', ['--homedir', home, '--batch', '--no-tty', '--no-options', '--no-autostart', '--lock-never', '--no-auto-check-trustdb', ...args], {
    input,
    maxBuffer: 16 * MAX_KEY_FILE,
  });
  if (r.error) {
    if ((r.error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new PreflightError('gpg is needed to read repository keys but is not installed', 'Install gnupg: `nspawn-kit doctor --fix`.');
    }
    throw r.error;
  }
  return { status: r.status, stdout: r.stdout };
}

/** The public keys of a key file's content, or why there are none. */
export function normalisePublicKeys(content: Buffer): PublicKeys | string {
  if (content.length > MAX_KEY_FILE) return `is larger than ${MAX_KEY_FILE} bytes: not a key file`;
  const text = content.toString('latin1');
  const blocks = text.match(ARMOR_BLOCK);
  let format: 'asc' | 'gpg';
  let input: Buffer;
  if (blocks) {
    // Only the public key blocks go to gpg: a secret key block never does.
    format = 'asc';
    input = Buffer.from(blocks.join('\n'), 'latin1');
  } else if (keyFormat(content) === 'gpg') {
    format = 'gpg';
    input = content;
  } else {
    return 'holds no OpenPGP public key (armored "-----BEGIN PGP PUBLIC KEY BLOCK-----" or binary)';
  }
  const home = mkdtempSync(join(tmpdir(), 'nspawn-kit-key-'));
  try {
    // Exit status ignored: trailing junk or a secret packet (no agent) fails the
    // import after the public keys are in; what counts is what was imported.
    gpg(home, ['--import'], input);
    const listed = gpg(home, ['--with-colons', '--list-keys']).stdout.toString('utf8');
    const fingerprints: string[] = [];
    let inPub = false;
    for (const line of listed.split('\n')) {
      const f = line.split(':');
      if (f[0] === 'pub') inPub = true;
      else if (f[0] === 'fpr' && inPub && f[9]) {
        fingerprints.push(f[9]);
        inPub = false;
      } else if (f[0] === 'sub') inPub = false;
    }
    if (fingerprints.length === 0) return 'holds no OpenPGP public key that gpg can import';
    const exported = gpg(home, ['--export', ...(format === 'asc' ? ['--armor'] : [])]);
    if (exported.status !== 0 || exported.stdout.length === 0) return 'its public keys could not be exported by gpg';
    return { content: exported.stdout, format, fingerprints };
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

/**
 * Reads at most MAX_KEY_FILE + 1 bytes of a key file (a bigger one is
 * refused by normalisePublicKeys), without blocking on a FIFO. As root, a
 * key file that another user could write, or that sits in a directory they
 * could write, is refused with a ConfigError (exit 2): the key decides which
 * packages a container trusts (strict-modes.ts). An open that fails throws
 * an error whose `code` is the errno code, or "not a regular file".
 */
export function readKeyFile(file: string): Buffer {
  const read = readTrusted(file, MAX_KEY_FILE, 'use this repository key');
  if (read.ok) return read.bytes;
  if (read.refused) throw new ConfigError(read.problems, 'Fix the ownership or mode of the key file or directory named above, then run again.');
  throw Object.assign(new Error(read.problems.join('; ')), { code: read.code ?? 'not a regular file' });
}
