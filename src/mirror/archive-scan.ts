/**
 * Reading archive directories the way apt fills them: top-level regular
 * *.deb files only (apt downloads into partial/ and renames when verified;
 * "lock" and anything else is not ours), symlinks only if they stay in the
 * directory. Plus a small bounded-concurrency map.
 */
import { promises as fsp } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * Top-level regular *.deb files of one directory (no recursion, no partial/, no lock).
 * An in-directory symlink is resolved here, once: `targets` gives the real file
 * to open for it (opened later with O_NOFOLLOW, so a link swapped in after this
 * listing is refused, never followed); `realDir` is where every opened file must lie.
 */
export async function listArchive(dir: string): Promise<{ files: string[]; escaping: string[]; targets: Map<string, string>; realDir: string }> {
  const entries = await fsp.readdir(dir, { withFileTypes: true });
  const files: string[] = [];
  const escaping: string[] = [];
  const targets = new Map<string, string>();
  const realDir = await fsp.realpath(dir);
  for (const entry of entries) {
    if (!entry.name.endsWith('.deb')) continue;
    const path = join(dir, entry.name);
    if (entry.isFile()) files.push(path);
    else if (entry.isSymbolicLink()) {
      const target = await symlinkTargetInside(path, realDir);
      if (target === undefined) escaping.push(path);
      else {
        files.push(path);
        targets.set(path, target);
      }
    }
  }
  files.sort();
  return { files, escaping, targets, realDir };
}

/** The real path of a symlink's final target when it is a regular file directly in realDir, else undefined. */
export async function symlinkTargetInside(path: string, realDir: string): Promise<string | undefined> {
  try {
    const target = await fsp.realpath(path);
    const st = await fsp.stat(target);
    return st.isFile() && dirname(target) === realDir ? target : undefined;
  } catch {
    return undefined;
  }
}

/** Runs `fn` over items with at most `limit` at once, results in input order. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}


/**
 * A file from a machine's apt cache, seen from the host: root inside the
 * machine controls every name in that directory, so no symlink is followed
 * (not the file, not a directory that became one since the watcher resolved
 * it). Returns why the file is refused, or undefined.
 */
export async function refuseMachineFile(path: string): Promise<string | undefined> {
  const st = await fsp.lstat(path).catch(() => undefined);
  if (!st) return 'vanished before it could be read';
  if (st.isSymbolicLink()) return 'symbolic link in a machine archive (not followed)';
  if (!st.isFile()) return 'not a regular file';
  const dir = dirname(path);
  const real = await fsp.realpath(dir).catch(() => undefined);
  if (real !== dir) return `its directory now leads elsewhere (${real ?? 'unreadable'}); not followed`;
  return undefined;
}
