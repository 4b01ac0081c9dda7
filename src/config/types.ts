/** Resolved configuration and recipes: host defaults filled in, paths absolute. */
import type { NspawnSettings, ParsedConfig, RecipeInput, Repository, User } from './schema.js';

export interface HostFacts {
  /** VERSION_CODENAME of /etc/os-release, e.g. "bookworm". */
  codename: string;
  /** dpkg --print-architecture, e.g. "amd64". */
  architecture: string;
  /** systemd runs as PID 1 (machinectl, systemd units usable). */
  systemdPid1: boolean;
  /** Upstream URLs the host's own apt sources use, by suite. */
  aptSources: Record<string, string>;
  /**
   * debootstrap's default mirror, by suite, for the suites the recipes name
   * (looked up by loadConfig for the mirror's first architecture): the last
   * fallback for a recipe's upstream.
   */
  debootstrapMirrors?: Record<string, string>;
}

export interface Archive {
  path: string;
  codename: string;
}

export interface MirrorConfig {
  root: string;
  archives: Archive[];
  upstreams: Record<string, string>;
  architectures: string[];
  importer: 'native' | 'apt-move';
  validDays: number;
  keep: number;
  graceHours: number;
  origin: string;
}

export interface Config {
  /** File the configuration came from, or undefined for embedded defaults. */
  file: string | undefined;
  stateDir: string;
  mirror: MirrorConfig;
  machines: { dir: string; settingsDir: string; unitDir: string; clone: 'auto' | 'overlay' | 'copy' };
  schedule: ParsedConfig['schedule'];
  watch: ParsedConfig['watch'];
  recipeDirs: string[];
  /** Inline recipes from the configuration file, as written (validated). */
  recipes?: Record<string, RecipeInput>;
  host: HostFacts;
}

export interface Recipe {
  name: string;
  description: string;
  /** Where the recipe was defined (file path, or "<config>:recipes.NAME"). */
  source: string;
  /** Chain of recipe names this one extends, nearest first. */
  parents: string[];
  codename: string;
  variant: 'minbase' | 'buildd' | 'fakechroot' | 'default';
  /** Resolved upstream URL (recipe, then mirror.upstreams, then host apt sources, then debootstrap's default). */
  upstream: string;
  components: string[];
  packages: string[];
  /** Repositories with `key` resolved to an absolute path. */
  repositories: Repository[];
  hostname: string;
  users: User[];
  steps: string[];
  firstboot: 'systemd' | 'rc.local';
  bootstrap: 'debootstrap' | 'mmdebstrap';
  nspawn: NspawnSettings;
  refresh: boolean;
  /**
   * sha256 of the canonical JSON of the resolved recipe, for provenance.
   * `upstream` is left out: it says where packages come from, not what the
   * container is (the mirror's InRelease pins the package content).
   */
  hash: string;
  /**
   * sha256 of only what shapes the base root filesystem (codename, variant,
   * components, packages, bootstrap backend, architecture): the base-cache key
   * together with the suite's InRelease. Users, steps, hostname do not change it.
   */
  baseHash: string;
}
