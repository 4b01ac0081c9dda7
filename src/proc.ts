/** Process probes shared by the pool, the publisher and the build dirs. */
import { promises as fsp } from 'node:fs';

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

/**
 * Where an open descriptor of this process points, from the kernel
 * (readlink /proc/self/fd/N), or undefined when /proc cannot tell. A file
 * unlinked since it was opened is judged by its old path (the kernel's
 * " (deleted)" suffix is dropped).
 */
export async function descriptorPath(fd: number): Promise<string | undefined> {
  const link = await fsp.readlink(`/proc/self/fd/${fd}`).catch(() => undefined);
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
