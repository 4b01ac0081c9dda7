/**
 * Where host paths of the configuration may point, judged on resolved,
 * normalised absolute paths and, where a path exists, on its realpath too
 * (a symlink /srv/etc -> /etc is /etc). Used by config validation and again
 * by the .nspawn renderer.
 */
import { realpathSync } from 'node:fs';
import { posix } from 'node:path';
import type { Config } from './types.js';
import { parseBind } from './formats.js';

/**
 * The normalised path and its realpath: that of the path itself when it
 * exists, else that of its deepest existing ancestor with the rest appended
 * (a symlink higher up counts even when the leaf is not there yet).
 */
export function pathForms(path: string): string[] {
  const normal = posix.resolve('/', path);
  const forms = [normal];
  const parts = normal.split('/').filter(Boolean);
  for (let i = parts.length; i >= 0; i--) {
    try {
      const real = posix.join(realpathSync(`/${parts.slice(0, i).join('/')}`), ...parts.slice(i));
      if (!forms.includes(real)) forms.push(real);
      break;
    } catch {
      /* not there: try its parent */
    }
  }
  return forms;
}

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
  const rel = relation(config.stateDir, config.mirror.root);
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

/** Host directories a recipe may never bind into a container, with the reason. */
function protectedDirs(config: Pick<Config, 'stateDir' | 'mirror' | 'machines'>, readOnly: boolean): Array<[string, string]> {
  const dirs: Array<[string, string]> = [
    ['/etc', 'the host configuration (password hashes, SSH host keys, sudoers)'],
    ['/root', "root's home (its SSH keys and history)"],
    ['/boot', 'the host kernel and boot loader'],
    ['/var/lib/nspawn-kit', "nspawn-kit's state (the secret signing key)"],
    [config.stateDir, "nspawn-kit's state (stateDir: the secret signing key)"],
    ['/run/systemd/nspawn', 'trusted .nspawn settings (a container could grant itself any capability)'],
    [config.machines.settingsDir, 'the .nspawn settings files (machines.settingsDir)'],
    [config.machines.unitDir, 'the systemd units of the host (machines.unitDir)'],
    [config.machines.dir, 'the other machines and their trusted .nspawn files (machines.dir)'],
  ];
  // The mirror is bound read-only into every machine already; writable, a container could change it.
  if (!readOnly) dirs.push([config.mirror.root, 'the published mirror (mirror.root; it is bound read-only already)']);
  return dirs;
}

/** Why a Bind=/BindReadOnly= entry of a recipe is refused, or undefined. */
export function bindProblem(bind: string, config: Pick<Config, 'stateDir' | 'mirror' | 'machines'>, readOnly: boolean): string | undefined {
  const spec = parseBind(bind);
  if (typeof spec === 'string') return spec;
  if (pathForms(spec.source).includes('/')) return 'binding the host\'s whole file system ("/") gives the container the host; bind only the directories it needs';
  for (const [dir, what] of protectedDirs(config, readOnly)) {
    const rel = relation(spec.source, dir);
    if (rel === 'apart') continue;
    const how = rel === 'contains' ? ` contains ${dir}` : rel === 'inside' ? ` is inside ${dir}` : spec.source === dir ? '' : ` is ${dir}`;
    return `host path ${spec.source}${how}: ${what} must not be reachable from a container`;
  }
  return undefined;
}
