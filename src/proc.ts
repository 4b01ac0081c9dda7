/**
 * Everything read from /proc, in one place: process probes (the pool, the
 * publisher and the build dirs), this process's descriptors (the safe opens,
 * mirror serve), its mounts, and the kernel's file systems (doctor).
 */
import { promises as fsp, readFileSync } from 'node:fs';

// ---- process liveness and descriptors ----

/** True when a process with this PID exists (EPERM: it exists, owned by someone else). */
export function pidAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** This process's open descriptors, each a magic link to what it opened (mirror serve reads files through it). */
export const SELF_FD_DIR = '/proc/self/fd';

/**
 * Where an open descriptor of this process points, from the kernel
 * (readlink /proc/self/fd/N), or undefined when /proc cannot tell. A file
 * unlinked since it was opened is judged by its old path (the kernel's
 * " (deleted)" suffix is dropped).
 */
export async function descriptorPath(fd: number): Promise<string | undefined> {
  const link = await fsp.readlink(`${SELF_FD_DIR}/${fd}`).catch(() => undefined);
  return link?.replace(/ \(deleted\)$/, '');
}

/**
 * This process's descriptor as a path another process can open
 * (/proc/<our pid>/fd/N): the inode we opened, whatever happens to its name.
 */
export function ownDescriptorPath(fd: number): string {
  return `/proc/${process.pid}/fd/${fd}`;
}

/**
 * `/proc/<this pid>/fd/N` (or `/proc/self/fd/N`): one of this process's own
 * descriptors, opened and checked by its caller (the watcher hands these to
 * validation so that a name swapped meanwhile changes nothing). It is a magic
 * link, so it is followed; any other link is not.
 */
export function isOwnDescriptor(path: string): boolean {
  const m = /^\/proc\/(self|\d+)\/fd\/\d+$/.exec(path);
  return m !== null && (m[1] === 'self' || Number(m[1]) === process.pid);
}

// ---- mounts ----

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

/** This process's mount points at or below dir (/proc/self/mountinfo), deepest first. */
export async function mountsUnder(dir: string): Promise<string[]> {
  return parseMountsUnder(await fsp.readFile('/proc/self/mountinfo', 'utf8'), dir);
}

/** /proc/filesystems (the file systems the running kernel knows), or '' without /proc. */
export function kernelFilesystems(): string {
  try {
    return readFileSync('/proc/filesystems', 'utf8');
  } catch {
    return '';
  }
}

// ---- processes ----

/** The fields of /proc/<pid>/stat after comm (field 3 on), or undefined when the process is gone. */
async function statFields(pid: number): Promise<string[] | undefined> {
  try {
    const stat = await fsp.readFile(`/proc/${pid}/stat`, 'utf8');
    // comm (field 2) may contain spaces and parentheses: count from the last ")".
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** starttime (field 22) of /proc/<pid>/stat, or undefined when the process is gone. */
export async function processStartTime(pid: number): Promise<string | undefined> {
  return (await statFields(pid))?.[19];
}

/** True when the process is a zombie (state Z) or gone. */
export async function processIsZombie(pid: number): Promise<boolean> {
  const fields = await statFields(pid);
  return fields === undefined || (fields[0] ?? '').startsWith('Z');
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
    const [root, cwd, cmdline] = await Promise.all([
      fsp.readlink(`/proc/${pid}/root`).catch(() => ''),
      fsp.readlink(`/proc/${pid}/cwd`).catch(() => ''),
      fsp.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => ''),
    ]);
    const args = cmdline.split('\0');
    if (isUnder(root, dir) || isUnder(cwd, dir) || args.some((a) => a.includes(`${dir}/`) || a === dir || a.endsWith(`=${dir}`))) pids.push(pid);
  }
  return pids;
}
