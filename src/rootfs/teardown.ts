/**
 * Tearing down a directory that processes and mounts may still hold (a build
 * dir after a failure, a signal or a SIGKILLed owner): what runs under it is
 * killed, what is mounted under it is unmounted deepest first, then it is
 * removed with `rm -rf --one-file-system` (Shell.remove).
 */
import { promises as fsp } from 'node:fs';
import { OperationError } from '../errors.js';
import { exists, type Shell } from '../shell.js';

/** Stop whatever still runs inside, unmount deepest first, then remove without crossing file systems. */
export async function destroyBuildDir(sh: Shell, dir: string): Promise<void> {
  if (sh.dryRun && !(await exists(dir))) return;
  await killProcessesUnder(sh, dir);
  await unmountAll(sh, dir);
  await sh.remove(dir);
}

/** Decodes the octal escapes of /proc/self/mountinfo ("\\040" is a space). */
function unescapeMount(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Mount points at or below dir, deepest first (the order to unmount them). */
export function parseMountsUnder(mountinfo: string, dir: string): string[] {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  const points = new Set<string>();
  for (const line of mountinfo.split('\n')) {
    const field = line.split(' ')[4];
    if (!field) continue;
    const point = unescapeMount(field);
    if (point === dir || point.startsWith(prefix)) points.add(point);
  }
  return [...points].sort((a, b) => b.split('/').length - a.split('/').length || b.length - a.length);
}

export async function mountsUnder(dir: string): Promise<string[]> {
  return parseMountsUnder(await fsp.readFile('/proc/self/mountinfo', 'utf8'), dir);
}

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

/** starttime (field 22) of /proc/<pid>/stat, or undefined when the process is gone. */
export async function processStartTime(pid: number): Promise<string | undefined> {
  try {
    const stat = await fsp.readFile(`/proc/${pid}/stat`, 'utf8');
    // comm (field 2) may contain spaces and parentheses: count from the last ")".
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19];
  } catch {
    return undefined;
  }
}

function isUnder(path: string, dir: string): boolean {
  return path === dir || path.startsWith(`${dir}/`);
}

/**
 * PIDs of processes whose root, working directory or argv lies under dir:
 * a bootstrap orphaned by a SIGKILLed owner keeps running (debootstrap, dpkg
 * chrooted into the build) and must stop before its directory is removed.
 */
export async function processesUnder(dir: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await fsp.readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    try {
      const [root, cwd, cmdline] = await Promise.all([
        fsp.readlink(`/proc/${pid}/root`).catch(() => ''),
        fsp.readlink(`/proc/${pid}/cwd`).catch(() => ''),
        fsp.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => ''),
      ]);
      const args = cmdline.split('\0');
      if (isUnder(root, dir) || isUnder(cwd, dir) || args.some((a) => a.includes(`${dir}/`) || a === dir || a.endsWith(`=${dir}`))) {
        pids.push(pid);
      }
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

/** SIGKILLs every process under dir and waits (up to 5 s) until they are gone. */
export async function killProcessesUnder(sh: Shell, dir: string): Promise<number[]> {
  const pids = await processesUnder(dir);
  if (pids.length === 0) return pids;
  await sh.write(['kill', ['-s', 'KILL', '--', ...pids.map(String)]], { nothrow: true });
  for (let i = 0; i < 50; i++) {
    const alive = await Promise.all(pids.map(async (p) => (await processStartTime(p)) !== undefined && !(await isZombie(p))));
    if (!alive.some(Boolean)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return pids;
}

async function isZombie(pid: number): Promise<boolean> {
  try {
    const stat = await fsp.readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}
