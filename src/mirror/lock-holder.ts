/**
 * Who holds the mirror lock now, for the busy error and the "waiting for"
 * line. The lock file's content (the PID its last holder wrote) outlives
 * that holder: a killed writer leaves its PID behind, the kernel reuses
 * PIDs, and an admin's `flock LOCK cmd` writes nothing. So the file is only
 * believed when the kernel agrees: /proc/locks lists the processes holding
 * an flock on the file's inode (for ours, the flock(1) child whose parent
 * wrote the file). The recorded PID is reported when it is such a holder or
 * its parent; otherwise the holder the kernel names; a dead PID never.
 */
import { readFileSync, statSync } from 'node:fs';
import { kernelLocks, parentPid, pidAlive } from '../proc.js';

/** The PID written into the lock file by its last holder, if the file holds one (not proof of anything). */
export function recordedLockPid(lockPath: string): number | undefined {
  try {
    const text = readFileSync(lockPath, 'utf8').trim();
    if (!/^[1-9][0-9]{0,9}$/.test(text)) return undefined;
    return Number(text);
  } catch {
    return undefined;
  }
}

/** Linux's dev_t split as /proc/locks prints it (hex major:minor; glibc's gnu_dev_major/minor). */
function devParts(dev: number): { major: number; minor: number } {
  const d = BigInt(dev);
  const major = Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn));
  const minor = Number((d & 0xffn) | ((d >> 12n) & ~0xffn));
  return { major, minor };
}

/**
 * The PIDs holding an flock(2) on the file (dev, inode), from the text of
 * /proc/locks; waiters ("->" lines), POSIX locks and other files are left out.
 * Lines look like `2: FLOCK  ADVISORY  WRITE 22147 fe:00:2148848 0 EOF`.
 */
export function flockHolders(procLocks: string, dev: number, ino: number): number[] {
  const { major, minor } = devParts(dev);
  const holders: number[] = [];
  for (const line of procLocks.split('\n')) {
    const m = /^\d+:\s+FLOCK\s+\S+\s+\S+\s+(-?\d+)\s+([0-9a-f]+):([0-9a-f]+):(\d+)\s/.exec(line);
    if (!m) continue;
    const [, pid, maj, min, inode] = m;
    if (Number.parseInt(maj!, 16) !== major || Number.parseInt(min!, 16) !== minor || inode !== String(ino)) continue;
    const n = Number(pid);
    // 0 or -1: a holder in a PID namespace we cannot see; nothing to name.
    if (n > 0 && !holders.includes(n)) holders.push(n);
  }
  return holders;
}

/**
 * The live holder of the lock at `lockPath`, or undefined when none can be
 * named (free, or held from an invisible PID namespace). Without /proc/locks,
 * the recorded PID if that process is alive.
 */
export function liveLockHolder(lockPath: string): number | undefined {
  const recorded = recordedLockPid(lockPath);
  let st: { dev: number; ino: number };
  try {
    st = statSync(lockPath);
  } catch {
    return undefined;
  }
  const procLocks = kernelLocks();
  if (procLocks === undefined) return recorded !== undefined && pidAlive(recorded) ? recorded : undefined;
  const holders = flockHolders(procLocks, st.dev, st.ino);
  if (recorded !== undefined && holders.some((h) => h === recorded || parentPid(h) === recorded)) return recorded;
  return holders[0];
}
