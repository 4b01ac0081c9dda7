/**
 * Resolved configuration and recipes: host defaults filled in, paths
 * absolute. The shapes come from the zod schemas (schema.ts for what a
 * configuration file says, recipe-schema.ts for a resolved recipe); only what
 * loading adds (the file, the host facts, the host defaults) is written here.
 */
import type { z } from 'zod';
import type { ArchiveSchema, ParsedConfig } from './schema.js';

export type { Recipe } from './recipe-schema.js';

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

export type Archive = z.output<typeof ArchiveSchema>;

/** `mirror` of the configuration, with the host defaults of `archives` and `architectures` filled in. */
export type MirrorConfig = Omit<ParsedConfig['mirror'], 'archives' | 'architectures'> & {
  archives: Archive[];
  architectures: string[];
};

export type Config = Omit<ParsedConfig, '$schema' | 'mirror' | 'recipeDirs' | 'recipes'> & {
  /** File the configuration came from, or undefined for embedded defaults. */
  file: string | undefined;
  mirror: MirrorConfig;
  /** Absolute: relative ones are resolved against the configuration file's directory. */
  recipeDirs: string[];
  /** Inline recipes from the configuration file, as written (validated). */
  recipes?: ParsedConfig['recipes'];
  host: HostFacts;
};
