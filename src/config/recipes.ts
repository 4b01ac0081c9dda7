/**
 * Recipes: one JSON file each (the shipped recipes/, then the system's
 * recipes.d and the configuration's recipeDirs, then inline `recipes` of the
 * configuration; a later one replaces an earlier one of the same name, and
 * says so in `replaces`), resolved through `extends`, with defaults and the
 * upstream filled in. Files are read through recipe-files.ts (strict modes).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import { didYouMean, formatIssues } from './issues.js';
import { ownValue } from './own-keys.js';
import { jsonSyntaxError } from './syntax-errors.js';
import { RecipeInputSchema, SAFE_NAME, type RecipeInput } from './schema.js';
import { fieldLocator, recipePolicyProblems } from './recipe-policy.js';
import { RecipeBodySchema, RecipeSchema, type Recipe } from './recipe-schema.js';
import type { Config } from './types.js';
import { defaultUpdateUpstream, suiteKind, suitesOf } from './suite-family.js';
import { BUNDLED_RECIPES, readRecipeDir, recipeLayers } from './recipe-files.js';

export { BUNDLED_RECIPES };

export interface RecipeDef {
  name: string;
  source: string;
  /** Directory relative key paths are resolved against. */
  baseDir: string;
  input: RecipeInput;
  /** "file: key.path" of a field of this recipe, for problems found after parsing. */
  at: (path: PropertyKey[]) => string;
  /** The source of the recipe of the same name this one replaces (a shipped recipe overridden from recipes.d, say). */
  replaces?: string;
}

function parseRecipeFile(file: string, text: string, problems: string[]): RecipeDef | undefined {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    problems.push(`${file}: cannot be parsed: ${jsonSyntaxError(text) ?? (err as Error).message}`);
    return undefined;
  }
  const parsed = RecipeInputSchema.safeParse(data);
  if (!parsed.success) {
    problems.push(...formatIssues(file, RecipeInputSchema, data, parsed.error.issues));
    return undefined;
  }
  const name = parsed.data.name ?? basename(file, '.json');
  if (!SAFE_NAME.test(name) || name.includes('..')) {
    problems.push(`${file}: name: expected a safe name, got "${name}"`);
    return undefined;
  }
  return { name, source: file, baseDir: dirname(file), input: parsed.data, at: fieldLocator(file, []) };
}

/** Every recipe definition visible with this configuration, by name. */
export function loadRecipeDefs(config: Config): Map<string, RecipeDef> {
  const defs = new Map<string, RecipeDef>();
  const problems: string[] = [];
  // A later layer replaces a recipe of the same name; two of one name in the same layer are ambiguous.
  const add = (def: RecipeDef, layer: Map<string, RecipeDef>): void => {
    const twin = layer.get(def.name);
    if (twin) problems.push(`${def.source}: name: recipe "${def.name}" is also defined by ${twin.source}; rename one`);
    layer.set(def.name, def);
    const earlier = defs.get(def.name);
    defs.set(def.name, earlier && earlier !== twin ? { ...def, replaces: earlier.source } : def);
  };
  for (const dir of recipeLayers(config.recipeDirs)) {
    if (dir !== BUNDLED_RECIPES && !existsSync(dir)) problems.push(`${config.file ?? 'configuration'}: recipeDirs: directory ${dir} does not exist`);
    const layer = new Map<string, RecipeDef>();
    for (const { file, text } of readRecipeDir(dir, problems)) {
      const def = parseRecipeFile(file, text, problems);
      if (def) add(def, layer);
    }
  }
  const where = config.file ?? '<embedded defaults>';
  const inline = new Map<string, RecipeDef>();
  for (const [key, input] of Object.entries(config.recipes ?? {})) {
    const name = input.name ?? key;
    add({ name, source: `${where}: recipes.${key}`, baseDir: config.file ? dirname(config.file) : process.cwd(), input, at: fieldLocator(where, ['recipes', key]) }, inline);
  }
  // Binds and key files: checked now, with their key paths, not after a build.
  for (const def of defs.values()) problems.push(...recipePolicyProblems(def, config));
  if (problems.length) throw new ConfigError(problems);
  return defs;
}

function unknownRecipe(name: string, defs: Map<string, RecipeDef>, where = ''): ConfigError {
  const known = [...defs.keys()].sort();
  const hint = didYouMean(name, known);
  return new ConfigError(
    [`${where}unknown recipe "${name}"${hint ? ` (did you mean "${hint}"?)` : ''}; known recipes: ${known.join(', ') || '(none)'}`],
    'Use one of the known recipe names, or add a recipe file to /etc/nspawn-kit/recipes.d (or a recipeDirs directory).',
  );
}

/** A host name (RFC 1123) from a recipe name: "_" and "." become "-", none at either end. */
export function defaultHostname(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 63).replace(/^-+|-+$/g, '') || 'machine';
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** JSON with sorted keys: the same recipe always hashes the same. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** A nested object block of a recipe (not an array): merged field by field along `extends`. */
function isBlock(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function definedFields(block: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(block).filter(([, v]) => v !== undefined));
}

export function resolveRecipe(config: Config, name: string, defs = loadRecipeDefs(config)): Recipe {
  if (!SAFE_NAME.test(name) || name.includes('..')) {
    throw new ConfigError([`recipe name "${name}": expected a safe name (letters, digits, ".", "_", "-"; no "/", no "..", not starting with "-")`]);
  }
  const chain: RecipeDef[] = [];
  let cur: string | undefined = name;
  while (cur !== undefined) {
    const def = defs.get(cur);
    if (!def) throw unknownRecipe(cur, defs, chain.length ? `${chain.at(-1)?.source}: extends: ` : '');
    if (chain.some((d) => d.name === cur)) {
      throw new ConfigError([`${def.source}: extends: cycle ${[...chain.map((d) => d.name), cur].join(' -> ')}`]);
    }
    chain.push(def);
    cur = def.input.extends;
  }
  // Parent first, child last: later fields win; arrays are replaced, object
  // blocks (nspawn) merged field by field: what a child leaves out of a block
  // stays its parent's, and only what no recipe sets gets the schema's default.
  const merged: RecipeInput = {};
  for (const def of [...chain].reverse()) {
    const input = {
      ...def.input,
      repositories: def.input.repositories?.map((r) => ({ ...r, key: r.key === undefined ? undefined : resolve(def.baseDir, r.key) })),
    };
    for (const [k, v] of Object.entries(input)) {
      if (v === undefined || k === 'name' || k === 'extends' || k === '$schema') continue;
      const into = merged as Record<string, unknown>;
      into[k] = isBlock(v) && isBlock(into[k]) ? { ...into[k], ...definedFields(v) } : v;
    }
  }
  const top = chain[0] as RecipeDef;
  const codename = merged.codename ?? config.host.codename;
  const arch = config.mirror.architectures[0] ?? config.host.architecture;
  const upstream =
    merged.upstream ??
    ownValue(config.mirror.upstreams, codename) ??
    ownValue(config.host.aptSources, codename) ??
    ownValue(config.host.debootstrapMirrors, codename);
  if (!upstream) {
    throw new ConfigError(
      [`${top.source}: no upstream mirror known for codename "${codename}"`],
      `Set "upstream" in the recipe or mirror.upstreams.${codename} in the configuration.`,
    );
  }
  // The defaults of every field no recipe in the chain set come from the schema (recipe-schema.ts).
  const body = RecipeBodySchema.parse({ ...merged, name, codename, hostname: merged.hostname ?? defaultHostname(name) });
  // An update suite: its own mirror.upstreams entry, else it follows the release: from the
  // archive configured for the release, or, when the release's upstream is the host's, the host's.
  const configured = merged.upstream !== undefined || ownValue(config.mirror.upstreams, codename) !== undefined;
  const suites = suitesOf(codename, body.updates);
  const upstreams: Record<string, string> = { [codename]: upstream };
  for (const suite of suites.slice(1)) {
    upstreams[suite] =
      ownValue(config.mirror.upstreams, suite) ??
      (configured ? undefined : ownValue(config.host.aptSources, suite)) ??
      defaultUpdateUpstream(upstream, suiteKind(suite).kind);
  }
  // The suites shape the base (its packages are upgraded from them); a recipe without update suites keeps its old key.
  const baseHash = sha256(
    canonicalJson({
      codename,
      variant: body.variant,
      components: body.components,
      packages: body.packages,
      bootstrap: body.bootstrap,
      arch,
      ...(suites.length > 1 ? { suites } : {}),
    }),
  );
  return {
    ...body,
    description: RecipeSchema.shape.description.parse(merged.description),
    source: top.source,
    ...(top.replaces === undefined ? {} : { replaces: top.replaces }),
    parents: chain.slice(1).map((d) => d.name),
    upstream,
    suites,
    upstreams,
    hash: sha256(canonicalJson(body)),
    baseHash,
  };
}

/** Resolves every visible recipe; collects all problems into one ConfigError. */
export function resolveAllRecipes(config: Config): Recipe[] {
  const defs = loadRecipeDefs(config);
  const out: Recipe[] = [];
  const problems: string[] = [];
  for (const name of [...defs.keys()].sort()) {
    try {
      out.push(resolveRecipe(config, name, defs));
    } catch (err) {
      if (err instanceof ConfigError) problems.push(...err.problems);
      else throw err;
    }
  }
  if (problems.length) throw new ConfigError(problems);
  return out;
}
