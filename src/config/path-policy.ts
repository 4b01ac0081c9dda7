/**
 * Where host paths of the configuration may point, judged on resolved,
 * normalised absolute paths and, where a path exists, on its realpath too
 * (a symlink /srv/etc -> /etc is /etc). Used by config validation and again
 * by the .nspawn renderer.
 */
import { posix } from 'node:path';
import type { Config } from './types.js';
import { parseBind } from './formats.js';
import { PathWalkError, walkPath } from './path-walk.js';

/**
 * The normalised path and its realpath: that of the path itself when it
 * exists, else that of its deepest existing ancestor with the rest appended
 * (a symlink higher up counts even when the leaf is not there yet). Throws a
 * PathWalkError when the path cannot be resolved for another reason than
 * "not there" (EACCES, ELOOP, ENOTDIR): such a path cannot be judged.
 */
export function pathForms(path: string): string[] {
  const { normal, real } = walkPath(path);
  return real === normal ? [normal] : [normal, real];
}

/**
 * The kernel's views of processes, settings and devices. A path there means
 * different things to different processes (/proc/self/cwd is the checking
 * process's directory, not systemd-nspawn's), so no bind source may be,
 * lie in or lead through one of them.
 */
export const KERNEL_TREES = ['/proc', '/sys', '/dev'] as const;

function within(inner: string, outer: string): boolean {
  return outer === '/' || inner === outer || inner.startsWith(`${outer}/`);
}

/** How `a` relates to `b`: the same directory, inside it, containing it, or apart. */
export function relation(a: string, b: string): 'same' | 'inside' | 'contains' | 'apart' {
  const as = pathForms(a);
  const bs = pathForms(b);
  let rel: 'same' | 'inside' | 'contains' | 'apart' = 'apart';
  for (const x of as) {
    for (const y of bs) {
      if (x === y) return 'same';
      if (within(x, y)) rel = 'inside';
      else if (within(y, x) && rel === 'apart') rel = 'contains';
    }
  }
  return rel;
}

/**
 * stateDir holds the secret signing key; mirror.root is published (by
 * `mirror serve`, nginx, rsync). Neither may hold the other.
 * Returns [key, message] pairs.
 */
export function stateDirProblems(config: { stateDir: string; mirror: { root: string } }): Array<[string, string]> {
  let rel: ReturnType<typeof relation>;
  try {
    rel = relation(config.stateDir, config.mirror.root);
  } catch (err) {
    if (!(err instanceof PathWalkError)) throw err;
    return [['stateDir', `cannot be compared with mirror.root: ${err.message}; make both paths resolvable`]];
  }
  const root = posix.resolve('/', config.mirror.root);
  const state = posix.resolve('/', config.stateDir);
  switch (rel) {
    case 'same':
      return [['stateDir', `is the same directory as mirror.root (${root}): the secret signing key in stateDir would be served with the mirror; give them separate directories`]];
    case 'inside':
      return [['stateDir', `is inside mirror.root (${root}): the secret signing key in stateDir would be served with the mirror; put stateDir outside mirror.root`]];
    case 'contains':
      return [['mirror.root', `is inside stateDir (${state}): the published mirror would sit among the private state (the secret signing key, records, locks); put mirror.root outside stateDir`]];
    default:
      return [];
  }
}

const NEVER = 'must not be reachable from a container';

/** The host apt cache: the default archive directory, refused writable even when not configured. */
const DEFAULT_ARCHIVE = '/var/cache/apt/archives';

/** Host directories a recipe may never bind into a container, with the reason. */
function protectedDirs(config: Pick<Config, 'stateDir' | 'mirror' | 'machines'>, readOnly: boolean): Array<[string, string]> {
  const dirs: Array<[string, string]> = [
    ['/etc', `the host configuration (password hashes, SSH host keys, sudoers) ${NEVER}`],
    ['/root', `root's home (its SSH keys and history) ${NEVER}`],
    ['/boot', `the host kernel and boot loader ${NEVER}`],
    ['/var/lib/nspawn-kit', `nspawn-kit's state (the secret signing key) ${NEVER}`],
    [config.stateDir, `nspawn-kit's state (stateDir: the secret signing key) ${NEVER}`],
    ['/var/backups', `the host's backups of its configuration (shadow.bak: password hashes) ${NEVER}`],
    ['/run/systemd/nspawn', `trusted .nspawn settings (a container could grant itself any capability) ${NEVER}`],
    [config.machines.settingsDir, `the .nspawn settings files (machines.settingsDir) ${NEVER}`],
    [config.machines.unitDir, `the systemd units of the host (machines.unitDir) ${NEVER}`],
    [config.machines.dir, `the other machines and their trusted .nspawn files (machines.dir) ${NEVER}`],
  ];
  if (readOnly) return dirs;
  // The mirror is bound read-only into every machine already; writable, a container could change it.
  dirs.push([config.mirror.root, `the published mirror (mirror.root; it is bound read-only already) ${NEVER}`]);
  // What lands in an archive directory is imported as the admin's own packages (no check
  // against a verified index) and signed: a container must not be able to write there.
  const archive = (what: string) =>
    `${what}: .debs a container wrote there would be imported as the admin's own packages and signed; bind it read-only (nspawn.bindsReadOnly) if the container needs it`;
  for (const a of config.mirror.archives) dirs.push([a.path, archive(`a mirror archive directory (mirror.archives, codename ${a.codename})`)]);
  if (!config.mirror.archives.some((a) => posix.resolve('/', a.path) === DEFAULT_ARCHIVE)) {
    dirs.push([DEFAULT_ARCHIVE, archive("the host's apt archive (the default of mirror.archives)")]);
  }
  return dirs;
}

function kernelTree(walked: string[]): string | undefined {
  for (const p of walked) for (const t of KERNEL_TREES) if (within(p, t)) return t;
  return undefined;
}

/** Why a Bind=/BindReadOnly= entry of a recipe is refused, or undefined. */
export function bindProblem(bind: string, config: Pick<Config, 'stateDir' | 'mirror' | 'machines'>, readOnly: boolean): string | undefined {
  const spec = parseBind(bind);
  if (typeof spec === 'string') return spec;
  const lexical = kernelTree([posix.resolve('/', spec.source)]);
  const kernelWhy = (tree: string, how: string) =>
    `host path ${spec.source}${how}: ${tree} is the kernel's view of processes, settings and devices, which systemd-nspawn resolves differently than this check (e.g. /proc/self); /proc, /sys and /dev must not be bound into a container`;
  if (lexical) return kernelWhy(lexical, spec.source === lexical ? '' : ` is inside ${lexical}`);
  try {
    const walk = walkPath(spec.source);
    const through = kernelTree(walk.visited);
    if (through) return kernelWhy(through, ` leads through ${through} (symbolic link)`);
    if (walk.kernel) {
      const { path, what } = walk.kernel;
      return `host path ${spec.source} is ${what}${path === walk.normal ? '' : ` (at ${path})`}: kernel file systems (like /proc and /sys) and device nodes (like /dev's) expose the host's processes, settings and devices and must not be bound into a container`;
    }
    if (walk.real === '/') return 'binding the host\'s whole file system ("/") gives the container the host; bind only the directories it needs';
    for (const [dir, why] of protectedDirs(config, readOnly)) {
      const rel = relation(spec.source, dir);
      if (rel === 'apart') continue;
      const how = rel === 'contains' ? ` contains ${dir}` : rel === 'inside' ? ` is inside ${dir}` : spec.source === dir ? '' : ` is ${dir}`;
      return `host path ${spec.source}${how}: ${why}`;
    }
  } catch (err) {
    if (!(err instanceof PathWalkError)) throw err;
    const through = kernelTree(err.visited);
    if (through) return kernelWhy(through, ` leads through ${through} (symbolic link)`);
    return `host path ${spec.source} cannot be resolved (${err.message}): where it leads cannot be checked, so it is refused; bind a path that exists and is readable, or one that does not exist yet`;
  }
  return undefined;
}
