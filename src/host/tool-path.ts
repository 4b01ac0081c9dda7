/**
 * Where a tool is found by name: on the PATH nspawn-kit runs its tools with
 * (its own, which the tools it starts inherit), and, for doctor's hint only,
 * in the standard directories that PATH lacks (cron's PATH and a non-login
 * `su` have no /usr/sbin, where debootstrap lives).
 */
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

/** Debian's root PATH (/etc/login.defs ENV_SUPATH), in its order: where admin tools are installed. */
export const STANDARD_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'] as const;

/**
 * The absolute directories of a PATH, in order. Empty and relative entries
 * (which would mean the working directory) are left out: a tool run as root
 * is never looked for where the admin happens to stand.
 */
export function pathDirs(path: string): string[] {
  return path.split(delimiter).filter((d) => d !== '' && isAbsolute(d));
}

function executableIn(dir: string, tool: string): string | undefined {
  const candidate = join(dir, tool);
  try {
    accessSync(candidate, constants.X_OK);
    return statSync(candidate).isFile() ? candidate : undefined;
  } catch {
    return undefined;
  }
}

/** The tool as a run with this PATH finds it: the first executable file of that name in its directories. */
export function which(tool: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of pathDirs(path)) {
    const found = executableIn(dir, tool);
    if (found) return found;
  }
  return undefined;
}

/** The tool in a standard directory that the PATH lacks (found there, a run with this PATH still fails). */
export function whichOutsidePath(tool: string, path = process.env.PATH ?? '', standard: readonly string[] = STANDARD_DIRS): string | undefined {
  const on = new Set(pathDirs(path));
  for (const dir of standard) {
    if (on.has(dir)) continue;
    const found = executableIn(dir, tool);
    if (found) return found;
  }
  return undefined;
}
