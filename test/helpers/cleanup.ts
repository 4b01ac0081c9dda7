/**
 * Removing a test's temporary tree after machines were built in it: overlay
 * machines stay mounted on the host (machine/overlay-mount.ts), so the
 * gpg-agent is stopped and everything mounted under the tree is unmounted,
 * deepest first, before `rm -rf --one-file-system` (which skips mounts).
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { mountsUnder } from '../../src/proc.js';

export async function removeTestTree(base: string, gnupgHome = join(base, 'state', 'gnupg')): Promise<void> {
  try {
    execFileSync('gpgconf', ['--homedir', gnupgHome, '--kill', 'all'], { stdio: 'ignore' });
  } catch {
    /* no agent */
  }
  for (const point of await mountsUnder(base)) execFileSync('umount', ['--', point]);
  execFileSync('rm', ['-rf', '--one-file-system', '--', base]);
}
