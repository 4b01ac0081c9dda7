/**
 * Where everything of the mirror lives: the public repository under
 * mirror.root (a standard Debian layout) and private state under stateDir.
 * One module so importer, publisher, gc, watcher and builder agree.
 */
import { join } from 'node:path';
import type { Config } from '../config/types.js';

export interface MirrorLayout {
  /** mirror.root: the published repository. */
  root: string;
  /** <root>/pool/main */
  pool: string;
  /** <root>/dists */
  dists: string;
  /** Armored public key, for apt's signed-by: <root>/mirror.asc */
  publicKeyAsc: string;
  /** Binary public keyring, for debootstrap --keyring: <root>/mirror.gpg */
  publicKeyring: string;
  /** <stateDir>/mirror: private state of the mirror. */
  state: string;
  /** GNUPGHOME of the signing key (mode 0700): <stateDir>/gnupg */
  gnupgHome: string;
  /** Directory of suite membership lists (<codename>.list, suites.ts). */
  suites: string;
  /** Bad files reported by import: <stateDir>/mirror/quarantine.json */
  quarantine: string;
  /** apt-ftparchive --db caches and similar. */
  cache: string;
  /** Per codename, one record per publication (InRelease copy + referenced files), for gc grace. */
  publications: string;
  /** Lock file shared by every writer of the mirror. */
  lock: string;
}

export function mirrorLayout(config: Pick<Config, 'stateDir' | 'mirror'>): MirrorLayout {
  const root = config.mirror.root;
  const state = join(config.stateDir, 'mirror');
  return {
    root,
    pool: join(root, 'pool', 'main'),
    dists: join(root, 'dists'),
    publicKeyAsc: join(root, 'mirror.asc'),
    publicKeyring: join(root, 'mirror.gpg'),
    state,
    gnupgHome: join(config.stateDir, 'gnupg'),
    suites: join(state, 'suites'),
    quarantine: join(state, 'quarantine.json'),
    cache: join(state, 'cache'),
    publications: join(state, 'publications'),
    lock: join(state, 'lock'),
  };
}

/** Suite membership list of a codename; read and written only through suites.ts, which says what it holds. */
export function suiteListPath(layout: MirrorLayout, codename: string): string {
  return join(layout.suites, `${codename}.list`);
}

/** Debian pool prefix: "libfoo" -> "libf", "hello" -> "h". */
export function poolPrefix(source: string): string {
  return source.startsWith('lib') && source.length > 3 ? source.slice(0, 4) : source.slice(0, 1);
}

/**
 * Pool-relative path of a package, from its control fields (never from the
 * incoming file name, which may be hostile or %-encoded by apt).
 */
export function poolRelativePath(pkg: { name: string; source?: string | undefined; version: string; architecture: string }): string {
  const source = (pkg.source ?? pkg.name).split(' ')[0] ?? pkg.name;
  const version = pkg.version.replace(/^\d+:/, '');
  return join('pool', 'main', poolPrefix(source), source, `${pkg.name}_${version}_${pkg.architecture}.deb`);
}
