/**
 * Directories a read-only command looks into (machines.dir, stateDir,
 * mirror.root): absent is an answer ("no machines", "never published"), but
 * a directory this user may not read (EACCES, EPERM) is not absent. Saying
 * "no machines" there would be a lie; the command stops instead, naming the
 * directory and what to do, with exit 1.
 */
import { constants, promises as fsp } from 'node:fs';
import { PreflightError } from './errors.js';

/** True for the errno codes that mean "not allowed to", not "not there". */
export function isPermissionError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EACCES' || code === 'EPERM';
}

/** The error a command stops with: the directory, and root or read permission as the fix. */
export function unreadableError(path: string, command: string): PreflightError {
  return new PreflightError(
    `cannot read ${path} (permission denied): \`nspawn-kit ${command}\` needs root, or read permission on it`,
    `Run it again as root (e.g. \`sudo nspawn-kit ${command}\`), or give this user read and search permission on ${path}.`,
  );
}

/**
 * Whether `dir` can be listed by this process: true when it exists and is
 * readable and searchable, false when it does not exist (or is not a
 * directory); a permission error is thrown as unreadableError.
 */
export async function readableDir(dir: string, command: string): Promise<boolean> {
  let isDir: boolean;
  try {
    isDir = (await fsp.stat(dir)).isDirectory();
  } catch (err) {
    if (isPermissionError(err)) throw unreadableError(dir, command);
    return false;
  }
  if (!isDir) return false;
  try {
    await fsp.access(dir, constants.R_OK | constants.X_OK);
  } catch (err) {
    if (isPermissionError(err)) throw unreadableError(dir, command);
    return false;
  }
  return true;
}

/** Every directory of `dirs` that exists must be readable (see readableDir); returns the ones that exist. */
export async function requireReadableDirs(dirs: string[], command: string): Promise<string[]> {
  const present: string[] = [];
  for (const dir of dirs) if (await readableDir(dir, command)) present.push(dir);
  return present;
}
