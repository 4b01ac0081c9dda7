/**
 * Loads the configuration (the system directory's config.json, or
 * --config FILE; config-file.ts says where and how), validates it against
 * the one schema, fills host defaults (host facts are detected here, once,
 * unless the caller passes them). Any problem becomes a ConfigError listing
 * every problem with its file and key path. Reads only.
 */
import { isAbsolute, relative, resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import { findSystemConfig, localRecipeDir, readConfigFile, systemConfigDir } from './config-file.js';
import { debootstrapDefaultMirrors, detectHost } from './host.js';
import { formatIssues } from './issues.js';
import { protoKeyPaths } from './own-keys.js';
import { stateDirProblems } from './path-policy.js';
import { recipeSuites } from './recipe-suites.js';
import { ConfigSchema } from './schema.js';
import type { Config, HostFacts } from './types.js';

export interface LoadOptions {
  /** --config FILE: load this file instead of the system directory's. */
  configFile?: string;
  /** The system configuration directory (default: $NSPAWN_KIT_CONFIG_DIR, else /etc/nspawn-kit). */
  configDir?: string;
  /** What a relative --config is relative to, and shown relative to in messages (default: process.cwd()). Never searched. */
  cwd?: string;
  /** Host facts (tests pass their own). */
  host?: HostFacts;
}

/** A file's name in messages: relative to cwd only for a relative --config argument (as it was typed, normalised), else absolute. */
function display(file: string, cwd: string, given: string | undefined): string {
  if (given === undefined || isAbsolute(given)) return file;
  const rel = relative(cwd, file);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
}

async function readRaw(opts: LoadOptions, cwd: string, dir: string): Promise<{ file: string | undefined; data: unknown }> {
  const file = opts.configFile !== undefined ? resolve(cwd, opts.configFile) : findSystemConfig(dir);
  if (file === undefined) return { file, data: {} };
  return { file, data: await readConfigFile(file, display(file, cwd, opts.configFile)) };
}

export async function loadConfig(opts: LoadOptions = {}): Promise<Config> {
  const cwd = opts.cwd ?? process.cwd();
  const dir = systemConfigDir(opts.configDir);
  const { file, data } = await readRaw(opts, cwd, dir);
  const where = file ? display(file, cwd, opts.configFile) : '<embedded defaults>';
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new ConfigError([`${where}: expected an object at the top level`]);
  }
  // zod's records drop a "__proto__" key without a word: refuse it instead.
  const protoKeys = protoKeyPaths(data).map((at) => `${where}: ${at}: "__proto__" is not allowed as a key (no codename, recipe or field is named so)`);
  const parsed = ConfigSchema.safeParse(data);
  if (!parsed.success || protoKeys.length) {
    throw new ConfigError([...protoKeys, ...(parsed.success ? [] : formatIssues(where, ConfigSchema, data, parsed.error.issues))]);
  }
  const c = parsed.data;
  // The secret signing key in stateDir must never be under what is published.
  const placement = stateDirProblems({ stateDir: c.stateDir, mirror: { root: c.mirror.root } });
  if (placement.length) throw new ConfigError(placement.map(([key, why]) => `${where}: ${key}: ${why}`));
  const host = opts.host ?? (await detectHost());
  // Relative recipe directories are relative to the configuration file.
  const base = file ? resolve(file, '..') : cwd;
  const config: Config = {
    file,
    stateDir: c.stateDir,
    mirror: {
      root: c.mirror.root,
      archives: c.mirror.archives ?? [{ path: '/var/cache/apt/archives', codename: host.codename }],
      upstreams: c.mirror.upstreams,
      architectures: c.mirror.architectures ?? [host.architecture],
      importer: c.mirror.importer,
      validDays: c.mirror.validDays,
      keep: c.mirror.keep,
      graceHours: c.mirror.graceHours,
      origin: c.mirror.origin,
    },
    machines: c.machines,
    schedule: c.schedule,
    watch: c.watch,
    // The local recipes of the system configuration first, those the file names after them (later ones win).
    recipeDirs: [...[localRecipeDir(dir)].filter((d) => d !== undefined), ...c.recipeDirs.map((d) => resolve(base, d))],
    recipes: c.recipes,
    host,
  };
  return { ...config, host: await withDebootstrapMirrors(config) };
}

/**
 * The host facts plus debootstrap's default mirror of every suite a recipe
 * names that has no upstream in the configuration, the host's apt sources or
 * the facts given: the last fallback of recipe resolution, looked up now.
 */
export async function withDebootstrapMirrors(config: Config): Promise<HostFacts> {
  const { host } = config;
  const known = (suite: string): boolean =>
    Object.hasOwn(config.mirror.upstreams, suite) || Object.hasOwn(host.aptSources, suite) || Object.hasOwn(host.debootstrapMirrors ?? {}, suite);
  const missing = (await recipeSuites(config)).filter((s) => !known(s));
  if (missing.length === 0) return host;
  const arch = config.mirror.architectures[0] ?? host.architecture;
  return { ...host, debootstrapMirrors: { ...host.debootstrapMirrors, ...(await debootstrapDefaultMirrors(missing, arch)) } };
}
