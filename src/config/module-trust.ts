/**
 * The stricter rule for a JavaScript configuration run as root. A module is
 * imported by name (Node resolves its path again, and its bare imports by
 * searching node_modules in every directory above it), so the checked
 * descriptor does not protect it: whoever can write any directory on its
 * path could swap the file, or plant a node_modules it imports, between the
 * check and the import. So every directory a name is looked up in, from /
 * down to the module's real path (the directories of the links followed on
 * the way included), must be owned by root and writable by root only, with
 * no exemption for sticky directories (/tmp, /var/tmp): another user may add
 * a node_modules there. Returns the problems; none when not root.
 */
import { lstatSync } from 'node:fs';
import { resolve } from 'node:path';
import { walkPath, PathWalkError } from './path-walk.js';
import { entryFaults, refusal, strictModes } from './strict-modes.js';

/** The sticky bit (S_ISVTX). */
const STICKY = 0o1000;
const ACTION = 'run this JavaScript configuration';
const MOVE_ONLY = 'move the configuration to a directory only root can write, all the way from / (such as /etc/nspawn-kit), or use JSON or YAML';
const MOVE = 'or move the configuration to a directory only root can write, all the way from / (such as /etc/nspawn-kit), or use JSON or YAML';

/** `shown`: the module's name in messages. */
export function moduleChainProblems(path: string, shown: string, check = strictModes()): string[] {
  if (!check) return [];
  let dirs: string[];
  try {
    dirs = walkPath(resolve(path)).lookups;
  } catch (err) {
    const code = err instanceof PathWalkError ? err.message : String(err);
    return [`${shown}: its path cannot be checked (${code}): refusing to ${ACTION} as root`];
  }
  const problems: string[] = [];
  for (const dir of dirs) {
    let st;
    try {
      st = lstatSync(dir);
    } catch (err) {
      problems.push(`${shown}: the directory ${dir} on its path cannot be checked (${(err as NodeJS.ErrnoException).code ?? String(err)}): refusing to ${ACTION} as root`);
      continue;
    }
    const f = entryFaults(st, dir);
    if (!f.why.length) continue;
    // A shared sticky directory (/tmp) is not to be chmod-ed: the configuration moves instead.
    if (st.mode & STICKY) problems.push(`${shown}: the directory ${dir} on its path is ${f.why.join(', and ')}, sticky or not: refusing to ${ACTION} as root; ${MOVE_ONLY}`);
    else problems.push(`${refusal(`${shown}: the directory ${dir} on its path is`, f, ACTION)}, ${MOVE}`);
  }
  return problems;
}
