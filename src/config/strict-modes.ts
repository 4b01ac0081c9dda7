/**
 * StrictModes, as sshd does it: when nspawn-kit runs as root (euid 0), it
 * reads no configuration file, recipe file, recipe directory or repository
 * key that a user other than root could have written, and none that sits in
 * a directory such a user could write (whoever can write the directory can
 * replace the file). A refusal names the file, the reason and the fix; it is
 * a ConfigError (exit 2).
 *
 * The rule, checked on what was opened (fstat of the descriptor, never a
 * second lookup of the name):
 * - a file, or a directory whose entries are read (a recipe directory, the
 *   configuration directory): owned by root, no group or other write bit;
 * - the directory holding it: owned by root, and no group or other write
 *   bit unless it is sticky (like /tmp: others may add entries there but
 *   cannot rename or remove root's);
 * - a symbolic link is followed: the file it leads to is checked, with the
 *   directory that file really is in (from /proc/self/fd) and the directory
 *   holding the name given (whoever can write there can point the link
 *   elsewhere).
 * - every symbolic link met on the way (in the middle of the path too):
 *   the directory it is in, by the same rule as the file's directory.
 * Other directories further up are not checked (module-trust.ts checks them
 * all for a JavaScript configuration, which is imported by name). As another
 * user nothing is refused (such a run can harm no one but that user); the
 * opens are the same.
 */
import { closeSync, constants, fstatSync, openSync, readSync, readdirSync, readlinkSync, realpathSync, type Stats } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { walkPath } from './path-walk.js';

export type Kind = 'file' | 'directory';

/** The sticky bit (S_ISVTX): only an entry's owner may rename or remove it. */
const STICKY = 0o1000;

/** Whether the ownership checks apply: this process runs as root. */
export function strictModes(): boolean {
  return process.geteuid?.() === 0;
}

function modeText(st: Stats): string {
  return `0${(st.mode & 0o7777).toString(8).padStart(3, '0')}`;
}

/** Why root must not read what has this stat (an entry, or a directory whose entries are read), with the fixes. */
export function entryFaults(st: Stats, path: string): { why: string[]; fix: string[] } {
  const why: string[] = [];
  const fix: string[] = [];
  if (st.uid !== 0) {
    why.push(`owned by uid ${st.uid}, not root`);
    fix.push(`chown root ${path}`);
  }
  if (st.mode & 0o022) {
    why.push(`writable by group or others (mode ${modeText(st)})`);
    fix.push(`chmod go-w ${path}`);
  }
  return { why, fix };
}

/** The same for the directory an entry is in: a sticky directory of root's may be writable by others. */
function holderFaults(st: Stats, path: string): { why: string[]; fix: string[] } {
  const f = entryFaults(st, path);
  if (st.uid === 0 && st.mode & STICKY) return { why: [], fix: [] };
  return f;
}

/** "SUBJECT: REASONS: refusing to ACTION as root; FIX" (the subject ends with ":" or "is"). */
export function refusal(subject: string, faults: { why: string[]; fix: string[] }, action: string): string {
  return `${subject} ${faults.why.join(', and ')}: refusing to ${action} as root; ${faults.fix.join(' && ')}`;
}

/** Where an open descriptor really is (the kernel's name of it), else the name's realpath. */
function realPathOf(fd: number, path: string): string {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`).replace(/ \(deleted\)$/, '');
  } catch {
    return realpathSync(path);
  }
}

/**
 * The directories holding `path`: where the opened file really is, where the
 * name given is (if a link made them differ), and where every link met on the
 * way is (whoever can write there can point the link elsewhere).
 */
function holders(path: string, real: string): string[] {
  const dirs = new Set([dirname(real)]);
  try {
    dirs.add(realpathSync(dirname(resolve(path))));
  } catch {
    // The name's directory is gone meanwhile: the opened file's own directory is still checked.
  }
  let links: string[];
  try {
    links = walkPath(path).links;
  } catch {
    // The name cannot be resolved again (it changed meanwhile): its lexical directory stands for them, and fails the check when it is gone.
    links = [resolve(path)];
  }
  for (const link of links) dirs.add(dirname(link));
  return [...dirs];
}

export type Opened = { ok: true; fd: number; st: Stats; real: string };
/** `refused`: the ownership rule; `code`: an errno code of the open; neither: not the kind asked for. */
export type NotOpened = { ok: false; problems: string[]; refused?: true; code?: string };

/**
 * Opens `path` read-only without blocking (a FIFO or device cannot hang
 * it), following a link, checks the descriptor is a `kind` and, as root,
 * applies the rule above (`check` false: what ships with the program itself,
 * which whoever can write could change the program too). `what` is the
 * action named in a refusal ("load it", "read recipes from it"). The
 * caller closes `fd`.
 */
export function openTrusted(path: string, kind: Kind, what = 'load it', check = strictModes()): Opened | NotOpened {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | (kind === 'directory' ? constants.O_DIRECTORY : 0));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    if (code === 'ENOTDIR' && kind === 'directory') return { ok: false, problems: [`${path}: is not a directory`] };
    return { ok: false, code, problems: [`${path}: cannot be opened (${code})`] };
  }
  const fail = (r: NotOpened): NotOpened => {
    closeSync(fd);
    return r;
  };
  let st: Stats;
  try {
    st = fstatSync(fd);
  } catch (err) {
    return fail({ ok: false, code: (err as NodeJS.ErrnoException).code ?? String(err), problems: [`${path}: cannot be checked (fstat failed)`] });
  }
  if (kind === 'file' && !st.isFile()) return fail({ ok: false, problems: [`${path}: is not a regular file`] });
  const real = realPathOf(fd, path);
  if (!check) return { ok: true, fd, st, real };
  const problems: string[] = [];
  const own = entryFaults(st, real);
  const shown = real === resolve(path) ? path : `${path} (-> ${real})`;
  if (own.why.length) problems.push(refusal(`${shown}:`, own, what));
  for (const dir of holders(path, real)) {
    let dst: Stats;
    try {
      dst = statDir(dir);
    } catch (err) {
      problems.push(`${shown}: its directory ${dir} cannot be checked (${(err as NodeJS.ErrnoException).code ?? String(err)}): refusing to ${what} as root`);
      continue;
    }
    const f = holderFaults(dst, dir);
    if (f.why.length) problems.push(refusal(`${shown}: its directory ${dir} is`, f, what));
  }
  if (problems.length) return fail({ ok: false, refused: true, problems });
  return { ok: true, fd, st, real };
}

function statDir(dir: string): Stats {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    return fstatSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * A file read whole through openTrusted, at most `max` bytes (`over`: there
 * was more, and `bytes` holds max + 1).
 */
export function readTrusted(path: string, max: number, what = 'load it', check = strictModes()): { ok: true; bytes: Buffer; over: boolean; real: string } | NotOpened {
  const o = openTrusted(path, 'file', what, check);
  if (!o.ok) return o;
  try {
    const buf = Buffer.alloc(max + 1);
    let got = 0;
    while (got < buf.length) {
      const n = readSync(o.fd, buf, got, buf.length - got, got);
      if (n === 0) break;
      got += n;
    }
    return { ok: true, bytes: buf.subarray(0, got), over: got > max, real: o.real };
  } finally {
    closeSync(o.fd);
  }
}

/** A directory's entry names, read through openTrusted (as root: the directory and the one holding it checked). */
export function listTrusted(dir: string, what: string, check = strictModes()): { ok: true; names: string[]; real: string } | NotOpened {
  const o = openTrusted(dir, 'directory', what, check);
  if (!o.ok) return o;
  try {
    // Listed through the descriptor (/proc/self/fd/N): the directory that was checked, whatever its name points at now.
    return { ok: true, names: readdirSync(`/proc/self/fd/${o.fd}`).sort(), real: o.real };
  } finally {
    closeSync(o.fd);
  }
}
