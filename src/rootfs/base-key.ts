/**
 * The key of a cached base: what it was built from. key = sha256(recipe.baseHash
 * + the publication digest of the recipe's suites), where each suite
 * (`bookworm`, `bookworm-updates`, `bookworm-security`) contributes the index
 * digest of its published InRelease: its SHA256 lines, i.e. exactly which
 * Packages files it signs. A republish that changes only Date and Valid-Until
 * (the nightly refresh re-signing) keeps the key; a new package or version in
 * any of the suites changes it, so a base with pending updates is never
 * handed out as is (machine/base-build.ts brings it up to date first).
 * A recipe with the release alone keeps the key formula of before the update
 * suites: its publication digest is the release's index digest.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Config, Recipe } from '../config/types.js';
import { OperationError } from '../errors.js';
import { mirrorLayout } from '../mirror/layout.js';
import { clearsignedText, parseRelease } from '../mirror/release.js';
import { exists } from '../shell.js';

type MirrorConfig = Pick<Config, 'stateDir' | 'mirror'>;
type KeyRecipe = Pick<Recipe, 'name' | 'codename' | 'baseHash' | 'suites'>;

export interface BaseRef {
  key: string;
  /** Directory of the cached base root file system. */
  dir: string;
  /** sha256 of dists/<codename>/InRelease (the release) at resolution time (provenance). */
  inReleaseSha256: string;
  /** sha256 of the release InRelease's SHA256 index lines (what a machine's identity compares). */
  indexDigest: string;
  /** sha256 of dists/<suite>/InRelease for every suite of the recipe, release first (provenance `suites`). */
  suites: Record<string, string>;
}

/** One suite's publication as the base key sees it. */
export interface SuitePublication {
  suite: string;
  inReleaseSha256: string;
  indexDigest: string;
}

export function baseCacheDir(config: Pick<Config, 'stateDir'>): string {
  return join(config.stateDir, 'base');
}

export function basePath(config: Pick<Config, 'stateDir'>, recipeName: string, key: string): string {
  return join(baseCacheDir(config), `${recipeName}-${key}`);
}

export function inReleasePath(config: MirrorConfig, suite: string): string {
  return join(mirrorLayout(config).dists, suite, 'InRelease');
}

async function readInRelease(config: MirrorConfig, suite: string, recipe?: Pick<Recipe, 'name' | 'codename'>): Promise<Buffer> {
  const path = inReleasePath(config, suite);
  try {
    return await fsp.readFile(path);
  } catch {
    if (recipe === undefined || suite === recipe.codename) {
      throw new OperationError(
        `the local mirror has no publication for ${suite}: ${path} is missing`,
        `Warm the recipe first (\`nspawn-kit mirror warm <recipe>\`), or publish the mirror (\`nspawn-kit mirror publish\`).`,
      );
    }
    throw new OperationError(
      `the local mirror has no publication for ${suite}, an update suite of recipe ${recipe.name}: ${path} is missing`,
      `Warm the recipe (\`nspawn-kit mirror warm ${recipe.name}\`): it fills and publishes every suite of the recipe; or publish the mirror (\`nspawn-kit mirror publish\`). A recipe that wants the release alone sets "updates": false.`,
    );
  }
}

/** sha256 of the suite's published InRelease; the mirror must have published the suite. */
export async function inReleaseSha256(config: MirrorConfig, suite: string): Promise<string> {
  return createHash('sha256').update(await readInRelease(config, suite)).digest('hex');
}

/** Digest of what a publication signs (its SHA256 index lines), not of when it was signed. */
export function indexDigestOf(inRelease: string): string {
  const lines = parseRelease(clearsignedText(inRelease))
    .sha256.map((e) => `${e.hash} ${e.size} ${e.path}`)
    .sort();
  return createHash('sha256').update(lines.join('\n')).digest('hex');
}

/** The published InRelease of one suite: its file's sha256 and the digest of what it signs. */
export async function readPublication(config: MirrorConfig, suite: string, recipe?: Pick<Recipe, 'name' | 'codename'>): Promise<SuitePublication> {
  const data = await readInRelease(config, suite, recipe);
  return { suite, inReleaseSha256: createHash('sha256').update(data).digest('hex'), indexDigest: indexDigestOf(data.toString('utf8')) };
}

/**
 * The digest of the publications a base is built from, in the recipe's
 * suite order: the release's own index digest when it is the only suite
 * (the key of a release-only recipe is unchanged), else sha256 over one
 * "<suite> <index digest>" line per suite.
 */
export function publicationDigest(pubs: readonly Pick<SuitePublication, 'suite' | 'indexDigest'>[]): string {
  if (pubs.length === 1 && pubs[0]) return pubs[0].indexDigest;
  return createHash('sha256')
    .update(pubs.map((p) => `${p.suite} ${p.indexDigest}\n`).join(''))
    .digest('hex');
}

export function baseKey(recipe: Pick<Recipe, 'baseHash'>, digest: string): string {
  return createHash('sha256').update(`${recipe.baseHash}\n${digest}\n`).digest('hex').slice(0, 16);
}

/** The release first, then the recipe's other suites (a recipe names its release first already). */
function suitesFor(recipe: Pick<Recipe, 'codename' | 'suites'>): string[] {
  return [recipe.codename, ...recipe.suites.filter((s) => s !== recipe.codename)];
}

/** The base for the recipe and the current publications of all its suites; a missing publication is an error saying what to do. */
export async function resolveBase(config: MirrorConfig, recipe: KeyRecipe): Promise<BaseRef> {
  const pubs: SuitePublication[] = [];
  for (const suite of suitesFor(recipe)) pubs.push(await readPublication(config, suite, recipe));
  const release = pubs[0] as SuitePublication;
  const key = baseKey(recipe, publicationDigest(pubs));
  return {
    key,
    dir: basePath(config, recipe.name, key),
    inReleaseSha256: release.inReleaseSha256,
    indexDigest: release.indexDigest,
    suites: Object.fromEntries(pubs.map((p) => [p.suite, p.inReleaseSha256])),
  };
}

/** Stands for the base key in a dry run on a host whose mirror has not published the suites yet. */
export const PENDING_KEY = '<key after publish>';

/**
 * The base a dry run plans when the mirror has no publication of one of the
 * recipe's suites yet (a fresh host: warm and publish are only planned too):
 * the real key depends on what the publish will sign, so a placeholder stands in.
 */
export async function resolveBaseOrPlan(config: MirrorConfig, recipe: KeyRecipe, dryRun: boolean): Promise<BaseRef & { planned: boolean }> {
  if (dryRun) {
    for (const suite of suitesFor(recipe)) {
      if (!(await exists(inReleasePath(config, suite)))) {
        return { key: PENDING_KEY, dir: basePath(config, recipe.name, PENDING_KEY), inReleaseSha256: '<after publish>', indexDigest: '<after publish>', suites: {}, planned: true };
      }
    }
  }
  return { ...(await resolveBase(config, recipe)), planned: false };
}
