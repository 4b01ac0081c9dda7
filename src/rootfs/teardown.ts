/**
 * Tearing down a directory that processes and mounts may still hold (a build
 * dir after a failure, a signal or a SIGKILLed owner): what runs under it is
 * killed, what is mounted under it is unmounted deepest first, then it is
 * removed with `rm -rf --one-file-system` (Shell.remove).
 */
import { OperationError } from '../errors.js';
import { mountsUnder, processesUnder, processIsZombie, processStartTime } from '../proc.js';
import { exists, type Shell } from '../shell.js';

/** Stop whatever still runs inside, unmount deepest first, then remove without crossing file systems. */
export async function destroyBuildDir(sh: Shell, dir: string): Promise<void> {
  if (sh.dryRun && !(await exists(dir))) return;
  await killProcessesUnder(sh, dir);
  await unmountAll(sh, dir);
  await sh.remove(dir);
}

export { mountsUnder, parseMountsUnder, processesUnder, processStartTime } from '../proc.js';

/**
 * Unmounts everything at or below dir, deepest first; a busy mount is
 * detached lazily. Mounts stacked on one mount point need one round each.
 */
export async function unmountAll(sh: Shell, dir: string): Promise<string[]> {
  const done: string[] = [];
  for (let round = 0; round < 16; round++) {
    const points = await mountsUnder(dir);
    if (points.length === 0 || sh.dryRun) break;
    for (const point of points) {
      const res = await sh.write(['umount', ['--', point]], { nothrow: true });
      // A mount may already be gone with its parent (e.g. a recursive bind).
      if (res.exitCode !== 0 && (await mountsUnder(point)).includes(point)) {
        await sh.write(['umount', ['-l', '--', point]], {
          hint: `Something keeps ${point} busy; find it with \`fuser -vm ${point}\`.`,
        });
      }
      done.push(point);
    }
  }
  const left = sh.dryRun ? [] : await mountsUnder(dir);
  if (left.length) throw new OperationError(`could not unmount ${left.join(', ')}`, 'Unmount them by hand (umount -l), then run the command again.');
  return done;
}

/** SIGKILLs every process under dir and waits (up to 5 s) until they are gone. */
export async function killProcessesUnder(sh: Shell, dir: string): Promise<number[]> {
  const pids = await processesUnder(dir);
  if (pids.length === 0) return pids;
  await sh.write(['kill', ['-s', 'KILL', '--', ...pids.map(String)]], { nothrow: true });
  for (let i = 0; i < 50; i++) {
    const alive = await Promise.all(pids.map(async (p) => (await processStartTime(p)) !== undefined && !(await processIsZombie(p))));
    if (!alive.some(Boolean)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return pids;
}
