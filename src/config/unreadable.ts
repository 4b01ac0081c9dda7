/**
 * A configuration file or directory this process may not read (EACCES,
 * EPERM): not a syntax or configuration error but a question of who runs
 * nspawn-kit. The error names what cannot be read (the file, or the first
 * directory on its way that cannot be entered) and says to run as root or
 * fix the permissions. A PreflightError (exit 1), like every other "needs
 * root" of the program (requireRoot).
 */
import { accessSync, constants } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { PreflightError } from '../errors.js';

export const PERMISSION_CODES = ['EACCES', 'EPERM'];

/** The first directory on the way to `path` this process cannot enter, if any. */
function blockedDirectory(path: string): string | undefined {
  const dirs: string[] = [];
  for (let d = dirname(resolve(path)); ; d = dirname(d)) {
    dirs.unshift(d);
    if (d === dirname(d)) break;
  }
  for (const d of dirs) {
    try {
      accessSync(d, constants.X_OK);
    } catch (err) {
      if (PERMISSION_CODES.includes((err as NodeJS.ErrnoException).code ?? '')) return d;
      return undefined;
    }
  }
  return undefined;
}

/** `what`: "the configuration file", "the configuration directory", "the recipe directory"... */
export function unreadableError(what: string, path: string): PreflightError {
  const uid = process.geteuid?.() ?? -1;
  const blocked = blockedDirectory(path);
  const where = blocked ? `${path}: its directory ${blocked} cannot be entered` : `${path} cannot be read`;
  const fix = blocked ?? path;
  return new PreflightError(
    `cannot read ${what}: ${where} (permission denied for uid ${uid})`,
    uid === 0
      ? `Fix the permissions of ${fix} so root can read it.`
      : `nspawn-kit reads its configuration as root: run it as root (e.g. with sudo), or make ${fix} readable by uid ${uid}.`,
  );
}

/** Throws unreadableError when an open failed for lack of permission. */
export function throwIfUnreadable(code: string | undefined, what: string, path: string): void {
  if (code !== undefined && PERMISSION_CODES.includes(code)) throw unreadableError(what, path);
}
