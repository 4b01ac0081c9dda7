/**
 * What is mounted where, from /proc/self/mountinfo (proc(5)): the host-mounted
 * overlay of a machine is found here, so mounting it is idempotent and `rm`
 * and `list` can tell a mounted machine from an empty mount point.
 */
import { promises as fsp } from 'node:fs';

export interface MountEntry {
  /** Where it is mounted (octal escapes decoded). */
  point: string;
  fsType: string;
  source: string;
  /** Per-superblock options, e.g. "rw,lowerdir=/a,upperdir=/b,workdir=/c". */
  superOptions: string;
}

/** Decodes the octal escapes of mountinfo fields ("\\040" is a space). */
function unescapeField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Every mount in mountinfo order (a later entry on the same point is stacked on top). */
export function parseMountInfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    const sep = fields.indexOf('-', 6);
    const point = fields[4];
    if (sep < 0 || point === undefined) continue;
    entries.push({
      point: unescapeField(point),
      fsType: fields[sep + 1] ?? '',
      source: unescapeField(fields[sep + 2] ?? ''),
      superOptions: unescapeField(fields[sep + 3] ?? ''),
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

export async function readMountInfo(): Promise<MountEntry[]> {
  return parseMountInfo(await fsp.readFile('/proc/self/mountinfo', 'utf8'));
}
