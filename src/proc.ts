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

/** One line of /proc/self/mountinfo (proc(5)). */
export interface MountEntry {
  /** Where it is mounted (octal escapes decoded). */
  point: string;
  fsType: string;
  source: string;
  /** Per-superblock options, e.g. "rw,lowerdir=/a,upperdir=/b,workdir=/c". */
  superOptions: string;
}

/** Decodes the octal escapes of mountinfo fields ("\\040" is a space). */
function unescapeMount(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Every mount of a mountinfo text, in its order (a later entry on the same point is stacked on top). */
export function parseMountInfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    const sep = fields.indexOf('-', 6);
    const point = fields[4];
    if (sep < 0 || point === undefined) continue;
    entries.push({
      point: unescapeMount(point),
      fsType: fields[sep + 1] ?? '',
      source: unescapeMount(fields[sep + 2] ?? ''),
      superOptions: unescapeMount(fields[sep + 3] ?? ''),
    });
  }
  return entries;
}

/** The value of one option ("upperdir") of a comma-separated option list, if present. */
export function mountOption(options: string, key: string): string | undefined {
  const prefix = `${key}=`;
  return options.split(',').find((o) => o.startsWith(prefix))?.slice(prefix.length);
}

/** The mount on top at exactly `point`, if any. */
export function topMountAt(entries: readonly MountEntry[], point: string): MountEntry | undefined {
  return entries.filter((e) => e.point === point).at(-1);
}

/** Mount points at or below dir in a mountinfo text, each once, deepest first (the order to unmount them). */
export function parseMountsUnder(mountinfo: string, dir: string): string[] {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  const points = new Set<string>();
  for (const { point } of parseMountInfo(mountinfo)) {
    if (point === dir || point.startsWith(prefix)) points.add(point);
  }
  return [...points].sort((a, b) => b.split('/').length - a.split('/').length || b.length - a.length);
}

/** This process's mount table (/proc/self/mountinfo). */
export async function readMountInfo(): Promise<MountEntry[]> {
  return parseMountInfo(await fsp.readFile('/proc/self/mountinfo', 'utf8'));
}

/** This process's mount points at or below dir (/proc/self/mountinfo), deepest first. */
export async function mountsUnder(dir: string): Promise<string[]> {
  return parseMountsUnder(await fsp.readFile('/proc/self/mountinfo', 'utf8'), dir);
}

/** /proc/locks (the kernel's file locks and their holders), or undefined without /proc. */
export function kernelLocks(): string | undefined {
  try {
    return readFileSync('/proc/locks', 'utf8');
  } catch {
    return undefined;
  }
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

/** The same, read synchronously (the mirror lock's holder is named inside an error's constructor). */
function statFieldsSync(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/**
 * The parent PID (field 4 of /proc/<pid>/stat; 0 for a namespace's first
 * process), or undefined when the process is gone.
 */
export function parentPid(pid: number): number | undefined {
  const ppid = Number(statFieldsSync(pid)?.[1]);
  return Number.isInteger(ppid) && ppid >= 0 ? ppid : undefined;
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

/** A running process: its PID and argv (empty for a kernel thread). */
export interface ProcessInfo {
  pid: number;
  argv: string[];
}

/** Every process we can see, with its argv (/proc/<pid>/cmdline); one that exits meanwhile is left out. */
export async function processes(): Promise<ProcessInfo[]> {
  const found: ProcessInfo[] = [];
  for (const entry of await fsp.readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await fsp.readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => undefined);
    if (cmdline === undefined) continue;
    // NUL-terminated: the last empty field is the terminator, not an argument.
    found.push({ pid: Number(entry), argv: cmdline.split('\0').filter((a, i, all) => a !== '' || i < all.length - 1) });
  }
  return found;
}

/** One row of the process table: what stopping a command's children needs (stat(5) fields 3 to 6). */
export interface ProcessRow {
  pid: number;
  ppid: number;
  /** Process group ID. */
  pgrp: number;
  /** Session ID. */
  sid: number;
  /** R, S, D, Z (zombie), T, ... */
  state: string;
}

/** Every process we can see (/proc/<pid>/stat); one that exits meanwhile is left out. */
export async function processTable(): Promise<ProcessRow[]> {
  const rows: ProcessRow[] = [];
  for (const entry of await fsp.readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const f = await statFields(Number(entry));
    if (!f) continue;
    rows.push({ pid: Number(entry), state: f[0] ?? '', ppid: Number(f[1]), pgrp: Number(f[2]), sid: Number(f[3]) });
  }
  return rows;
}
