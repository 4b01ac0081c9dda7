/**
 * Where the importer puts its private copy of a file while it is validated.
 *
 * The copy must be invisible to every reader of the published tree: mirror.root
 * is bind-mounted read-only into every container and may be rsynced, and root
 * in a container without user namespacing reads a 0700 directory as easily as
 * any other. So the copy goes to <stateDir>/mirror/staging (0700, never
 * published, never bound into a machine) whenever a hard link from there into
 * the pool works: same file system AND same mount (a bind mount of the same
 * file system still refuses link(2) with EXDEV), probed with a real link once per
 * import run, which keeps the final step an atomic link into place. Only
 * when that is impossible does it fall back to <pool>/.nk-staging, a 0700
 * dot-directory (hidden from serve, which refuses dot components), files mode 0600.
 */
import { promises as fsp } from 'node:fs';
import { dirname, join } from 'node:path';
import type { MirrorLayout } from './layout.js';
import { tempName } from './stage.js';

export function stateStagingDir(layout: MirrorLayout): string {
  return join(layout.state, 'staging');
}

export function poolStagingDir(layout: MirrorLayout): string {
  return join(layout.pool, '.nk-staging');
}

/** mkdir -p (parents 0755, the directory itself 0700); the last component must be a real directory of ours (never a symlink); made 0700 if it was not. */
async function privateDir(dir: string): Promise<void> {
  await fsp.mkdir(dirname(dir), { recursive: true, mode: 0o755 });
  await fsp.mkdir(dir, { mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
  const st = await fsp.lstat(dir);
  if (!st.isDirectory() || (process.getuid && st.uid !== process.getuid())) throw new Error(`${dir}: not a directory owned by this user; refusing to stage files there`);
  if ((st.mode & 0o777) !== 0o700) await fsp.chmod(dir, 0o700);
}

/** true when a file made in `from` can be hard-linked into `to` (the probe files are removed). */
async function canLink(from: string, to: string): Promise<boolean> {
  const a = join(from, tempName('probe'));
  const b = join(to, tempName('probe'));
  try {
    await (await fsp.open(a, 'wx', 0o600)).close();
    await fsp.link(a, b);
    return true;
  } catch {
    return false;
  } finally {
    await fsp.rm(a, { force: true });
    await fsp.rm(b, { force: true });
  }
}

/** The staging directory of this import run (see the module comment for the choice). */
export async function chooseStagingDir(layout: MirrorLayout): Promise<string> {
  await fsp.mkdir(layout.pool, { recursive: true, mode: 0o755 });
  const state = stateStagingDir(layout);
  try {
    await privateDir(state);
    if (await canLink(state, layout.pool)) return state;
  } catch {
    // fall back below
  }
  const fallback = poolStagingDir(layout);
  await privateDir(fallback);
  return fallback;
}
