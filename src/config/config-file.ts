/**
 * Where the configuration comes from, and reading it. The system
 * configuration is the directory /etc/nspawn-kit (or $NSPAWN_KIT_CONFIG_DIR):
 * its `config.json` (or `config.yaml`/`config.yml`, one of them) and its
 * `recipes.d/`. `--config FILE` names another file instead of the directory's
 * (recipes.d is still read). Nothing is searched anywhere else: not the
 * working directory, not its parents, not package.json.
 *
 * The files are parsed by cosmiconfig's own loaders (JSON, YAML), and, for
 * --config only, a JavaScript module is imported (as root: only from a path
 * whose every directory only root can write, module-trust.ts). TypeScript is
 * refused: cosmiconfig would compile it into a file beside it and read a
 * tsconfig.json from any directory above. cosmiconfig's explorer
 * is not used: creating one reads a "meta" configuration from the working
 * directory (package.json, .config/config.*), and so would run a
 * `.config/config.mjs` found wherever nspawn-kit is started. Every file is
 * opened and checked first (strict-modes.ts) and its content read from that
 * descriptor; a module config is imported only once it passed the checks.
 */
import { defaultLoaders } from 'cosmiconfig';
import { lstatSync } from 'node:fs';
import { extname, isAbsolute, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../errors.js';
import { moduleChainProblems } from './module-trust.js';
import { listTrusted, readTrusted } from './strict-modes.js';
import { syntaxReason } from './syntax-errors.js';
import { throwIfUnreadable } from './unreadable.js';

export const SYSTEM_CONFIG_DIR = '/etc/nspawn-kit';
/** Environment variable naming another system configuration directory (tests, a second instance). */
export const CONFIG_DIR_ENV = 'NSPAWN_KIT_CONFIG_DIR';
/** The configuration file names looked for in that directory, data formats only: a found file never runs code. */
export const SEARCH_PLACES = ['config.json', 'config.yaml', 'config.yml'] as const;
/** The local recipes' directory inside it. */
export const LOCAL_RECIPES = 'recipes.d';
/** A configuration file larger than this is refused. */
export const MAX_CONFIG_FILE = 4 << 20;

const CODE_EXTENSIONS = ['.js', '.mjs', '.cjs'];
const TS_EXTENSIONS = ['.ts', '.cts', '.mts'];

/** The system configuration directory: the option given, else $NSPAWN_KIT_CONFIG_DIR, else /etc/nspawn-kit. */
export function systemConfigDir(given?: string): string {
  const dir = given ?? process.env[CONFIG_DIR_ENV] ?? SYSTEM_CONFIG_DIR;
  if (!isAbsolute(dir)) {
    throw new ConfigError([`${CONFIG_DIR_ENV}=${dir}: expected an absolute path`], `Set ${CONFIG_DIR_ENV} to the absolute path of a configuration directory, or unset it to use ${SYSTEM_CONFIG_DIR}.`);
  }
  return dir;
}

function exists(path: string, what: string): boolean {
  try {
    return lstatSync(path, { throwIfNoEntry: false }) !== undefined;
  } catch (err) {
    throwIfUnreadable((err as NodeJS.ErrnoException).code, what, path);
    throw err;
  }
}

/**
 * The configuration file of the system directory, or undefined when there is
 * none (or no directory): then the embedded defaults apply. The directory is
 * checked (as root) before anything in it is looked at.
 */
export function findSystemConfig(dir: string): string | undefined {
  if (!exists(dir, 'the configuration directory')) return undefined;
  const listed = listTrusted(dir, 'read the configuration from it');
  if (!listed.ok) throwIfUnreadable(listed.code, 'the configuration directory', dir);
  if (!listed.ok) throw new ConfigError(listed.problems, 'Fix the ownership or mode of the configuration directory named above, then run again.');
  const found = SEARCH_PLACES.filter((p) => listed.names.includes(p));
  if (found.length > 1) {
    throw new ConfigError([`${dir}: holds ${found.join(' and ')}: only one configuration file is read`], `Merge them into ${join(dir, 'config.json')} and remove the other.`);
  }
  return found[0] === undefined ? undefined : join(dir, found[0]);
}

/** The local recipes' directory of the system configuration, when it exists. */
export function localRecipeDir(dir: string): string | undefined {
  const d = join(dir, LOCAL_RECIPES);
  return exists(d, 'the local recipe directory') ? d : undefined;
}

/** cosmiconfig's parse errors start "JSON Error in FILE:" on a line of its own: the reason is the line after. */
function parseReason(err: unknown): string {
  const lines = (err instanceof Error ? err.message : String(err)).split('\n').filter((l) => l.trim() !== '');
  const first = lines[0] ?? '';
  return (/^(JSON|YAML|TypeScript) Error in /.test(first) ? lines[1] : first)?.trim() ?? 'unknown error';
}

/**
 * The data of one configuration file (`shown`: its name in messages), read
 * through the checks and parsed by cosmiconfig's loader of its extension.
 * An empty file is an empty configuration, as cosmiconfig has it.
 */
export async function readConfigFile(file: string, shown: string): Promise<unknown> {
  const ext = extname(file);
  if (TS_EXTENSIONS.includes(ext)) {
    throw new ConfigError([`${shown}: TypeScript configurations are not supported`], 'Compile it to JavaScript (.mjs), or use JSON or YAML.');
  }
  const code = CODE_EXTENSIONS.includes(ext);
  const read = readTrusted(file, MAX_CONFIG_FILE, code ? 'run this JavaScript configuration' : 'load it');
  if (!read.ok && !read.refused) {
    throwIfUnreadable(read.code, 'the configuration file', file);
    if (read.code === 'ENOENT') throw new ConfigError([`${shown}: no such configuration file`], 'Check the path given to --config.');
    throw new ConfigError(read.problems);
  }
  // Checked before anything is imported: a module is imported by name, so its whole path must be root's.
  const refused = [...(read.ok ? [] : read.problems), ...(code ? moduleChainProblems(file, file) : [])];
  if (refused.length) throw new ConfigError(refused, 'Fix the ownership or mode of the file or directory named above, then run again.');
  if (!read.ok) throw new ConfigError(read.problems);
  if (read.over) throw new ConfigError([`${shown}: is larger than ${MAX_CONFIG_FILE} bytes: not a configuration file`]);
  if (code) return importModule(read.real, shown);
  const content = read.bytes.toString('utf8');
  if (content.trim() === '') return {};
  const loader = (defaultLoaders as Record<string, ((path: string, content: string) => unknown) | undefined>)[ext || 'noExt'];
  if (!loader) {
    throw new ConfigError([`${shown}: cannot be parsed: unknown extension "${ext}"`], 'Name it .json or .yaml (or .mjs, .cjs, .js for a module).');
  }
  try {
    // Data is parsed from the bytes read through the checked descriptor.
    const data = await loader(file, content);
    return data === undefined || data === null ? {} : data;
  } catch (err) {
    throw new ConfigError([`${shown}: cannot be parsed: ${syntaxReason(err, content, ext)}`], 'Fix the syntax error at that line and column, then run again.');
  }
}

/** A module configuration's default export, imported once from the real path that passed the checks. */
async function importModule(real: string, shown: string): Promise<unknown> {
  let data: unknown;
  try {
    data = ((await import(pathToFileURL(real).href)) as { default?: unknown }).default;
  } catch (err) {
    throw new ConfigError([`${shown}: cannot be loaded: ${parseReason(err)}`], 'Fix the error in the module and run again.');
  }
  return data === undefined || data === null ? {} : data;
}
