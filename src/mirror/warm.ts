/**
 * Cache warming: everything a recipe needs lands in the mirror, so the next
 * build needs no network. One private apt root holds every suite of the
 * recipe (release, -updates, -security, each from its upstream, verified by
 * the codename's keyring), updated once. Two resolutions:
 * (a) the variant's base set (debootstrap --print-debs) from the release's
 *     source alone (releaseOnly): the release's own versions, filed under
 *     the release suite, where debootstrap (which reads dists/<codename>
 *     alone) must find a complete base set;
 * (b) base set + recipe packages over all suites, no pinning: the newest
 *     candidate wins, as apt inside the machine chooses.
 * Each .deb is filed under every suite whose verified list names its exact
 * bytes (a .deb no recipe suite names, from an extra repository, under the
 * release). Only .debs whose SHA256 is not in the pool are downloaded
 * (fetch-debs.ts). Warming again when nothing changed downloads no .deb.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Recipe } from '../config/types.js';
import { aptGet, parseFetched, parsePrintUris, prepareAptRoot, recipeSources, renderSources, rootArchitecture, updateRecipeLists, writeFamilyRecord, type AptRoot, type AptSource, type NeededDeb } from './apt-root.js';
import type { MirrorContext } from './context.js';
import { ensureSuiteLists, fetchAndFile, type FiledDeb, type SuiteCount } from './fetch-debs.js';
import type { ImportReport } from './import.js';
import { mirrorLayout, suiteListPath } from './layout.js';
import { publishMirror, type PublishReport } from './publish.js';
import { trustKey } from './trusted-index.js';
import { readSuiteLists, suitesByBytes } from './upstream-lists.js';
import { assertUpstreamsReachable, unreachableFromApt } from './upstream-reach.js';
import { baseSet, codenameKeyring } from './warm-base.js';
import { extraRepositorySources } from './warm-keys.js';

export { codenameKeyring, suiteKeyring } from './warm-base.js';

export interface WarmOptions {
  /** Publish the warmed suites at the end (default true; `mirror refresh` publishes once itself). */
  publish?: boolean;
  /**
   * The keyring that verifies every suite of the recipe's codename, instead of
   * the distribution keyring (suiteKeyring): an archive signed by another key
   * (tests: a throwaway key). Verification is never skipped.
   */
  keyring?: string;
}

export interface RecipeWarm {
  recipe: string;
  codename: string;
  /** Packages of the variant's base set (debootstrap --print-debs). */
  baseSet: number;
  /** The base set came from the cache (the release's InRelease did not change). */
  baseSetCached: boolean;
  /** .debs in the union of both resolutions (base set at the release's versions; base set + recipe packages, newest). */
  needed: number;
  alreadyInPool: number;
  /** Not in the pool: fetched (or, in a dry run, would be). */
  toDownload: number;
  downloaded: number;
  bytesDownloaded: number;
  /** Bytes apt reported fetching for the package lists ("Fetched" of apt-get update; 0 for file:// or nothing fetched). */
  listBytes: number;
  /** New entries over the suite lists. */
  addedToSuite: number;
  /** Per suite of the recipe: .debs filed under it, and how many of them were downloaded. */
  suites: Record<string, SuiteCount>;
  import?: ImportReport;
  warnings: string[];
}

export interface WarmReport {
  dryRun: boolean;
  recipes: RecipeWarm[];
  downloaded: number;
  bytesDownloaded: number;
  published?: PublishReport;
  summary: string;
}

/** apt's choice for `names` (install --print-uris with an empty dpkg status); extra are more apt-get arguments. */
async function resolve(ctx: MirrorContext, root: AptRoot, names: string[], extra: string[], hint: string): Promise<NeededDeb[]> {
  const res = await aptGet(ctx.sh, root, ['-qq', '--print-uris', '-o', 'Acquire::ForceHash=SHA256', ...extra, 'install', '--download-only', '-y', '--', ...names], {
    write: false,
    nothrow: ctx.sh.dryRun,
    signal: ctx.signal,
    hint,
  });
  return parsePrintUris(res.stdout);
}

/**
 * apt-get options that make the release's own source the only one (its lists are already in the
 * root: no update). APT::Default-Release cannot isolate it: apt matches Suite or Codename, and
 * Ubuntu's jammy-updates and jammy-security say `Codename: jammy`.
 */
async function releaseOnly(sh: MirrorContext['sh'], root: AptRoot, sources: readonly AptSource[]): Promise<string[]> {
  const file = join(root.dir, 'etc', 'release-only.sources');
  const parts = join(root.dir, 'etc', 'release-only.d');
  await sh.mkdir(parts);
  await sh.writeFile(file, renderSources(sources.slice(0, 1)));
  // No cache files: apt builds this one-source cache in memory, and the root's cache of all suites stays valid.
  return ['-o', `Dir::Etc::SourceList=${file}`, '-o', `Dir::Etc::SourceParts=${parts}`, '-o', 'Dir::Cache::pkgcache=', '-o', 'Dir::Cache::srcpkgcache='];
}

async function warmOne(ctx: MirrorContext, recipe: Recipe, opts: WarmOptions): Promise<RecipeWarm> {
  const { sh } = ctx;
  const layout = mirrorLayout(ctx.config);
  const result: RecipeWarm = { recipe: recipe.name, codename: recipe.codename, baseSet: 0, baseSetCached: false, needed: 0, alreadyInPool: 0, toDownload: 0, downloaded: 0, bytesDownloaded: 0, listBytes: 0, addedToSuite: 0, suites: {}, warnings: [] };
  for (const s of recipe.suites) result.suites[s] = { needed: 0, downloaded: 0 };
  const keyring = codenameKeyring(recipe.codename, opts.keyring);
  const own = recipeSources(recipe, keyring);
  const warmDir = join(layout.state, 'warm', recipe.codename);
  const rootDir = join(warmDir, `apt-${recipe.name}`);
  // The extra repositories' keys: read checked, normalised, copied into the root (warm-keys.ts).
  const extra = await extraRepositorySources(sh, rootDir, recipe, existsSync);
  result.warnings.push(...extra.skipped);
  const sources = [...own, ...extra.sources];
  const root = await prepareAptRoot(sh, rootDir, rootArchitecture(ctx.config), sources);
  await writeFamilyRecord(sh, root, own);
  const onLine = (line: string): void => {
    if (line.trim()) ctx.log?.(`${recipe.name}: ${line.trim()}`);
  };

  ctx.log?.(`${recipe.name}: updating the private package lists of ${recipe.suites.join(', ')}`);
  // A dry run fetches no lists: it asks the upstreams whether they answer instead.
  if (sh.dryRun) await assertUpstreamsReachable(recipe, ctx.signal, ctx.log);
  const update = await updateRecipeLists(sh, root, recipe, keyring, { signal: ctx.signal, onLine }).catch((err: unknown) => {
    throw unreachableFromApt(err, recipe);
  });

  result.listBytes = parseFetched(`${update.stdout}\n${update.stderr}`);
  const base = await baseSet(ctx, layout, recipe, root, keyring);
  result.baseSet = base.names.length;
  result.baseSetCached = base.cached;
  if (sh.dryRun && !existsSync(join(root.dir, 'state', 'lists'))) {
    result.warnings.push('dry run: no package lists yet, the needed set is unknown');
    return result;
  }
  const release = await resolve(ctx, root, base.names, await releaseOnly(sh, root, sources), `apt could not resolve the ${recipe.variant} base set from ${recipe.codename}: does ${recipe.upstream} carry it?`);
  const wanted = [...new Set([...base.names, ...recipe.packages])];
  const newest = await resolve(ctx, root, wanted, [], `apt could not resolve ${recipe.packages.join(', ') || 'the base set'} for ${recipe.suites.join(', ')}: is every package name available in ${recipe.upstream}?`);

  const bySuite = suitesByBytes(
    await readSuiteLists(sh, root, sources, recipe.suites, (w) => result.warnings.push(w), new Set([...release, ...newest].map((d) => d.name))),
  );
  const filed = new Map<string, FiledDeb>();
  const file = (deb: NeededDeb, releaseToo: boolean): void => {
    const named = bySuite.get(trustKey(deb.name, deb.version, deb.architecture, deb.size, deb.sha256)) ?? [];
    const suites = [...new Set([...(releaseToo || !named.length ? [recipe.codename] : []), ...named])];
    const have = filed.get(deb.sha256);
    if (have) have.suites = [...new Set([...have.suites, ...suites])];
    else filed.set(deb.sha256, { ...deb, suites });
  };
  for (const d of release) file(d, true);
  for (const d of newest) file(d, false);

  if (!sh.dryRun) await ensureSuiteLists(ctx, layout, recipe.suites);
  const fetched = await fetchAndFile(ctx, layout, root, [...filed.values()], recipe.name, warmDir);
  Object.assign(result, {
    needed: fetched.needed,
    alreadyInPool: fetched.alreadyInPool,
    toDownload: fetched.toDownload,
    downloaded: fetched.downloaded,
    bytesDownloaded: fetched.bytesDownloaded,
    addedToSuite: fetched.addedToSuite,
    suites: { ...result.suites, ...fetched.suites },
    ...(fetched.import ? { import: fetched.import } : {}),
  });
  result.warnings.push(...fetched.warnings);
  return result;
}

export async function warmRecipes(ctx: MirrorContext, recipes: Recipe[], opts: WarmOptions = {}): Promise<WarmReport> {
  const report: WarmReport = { dryRun: ctx.sh.dryRun, recipes: [], downloaded: 0, bytesDownloaded: 0, summary: '' };
  for (const recipe of recipes) {
    ctx.signal?.throwIfAborted();
    const r = await warmOne(ctx, recipe, opts);
    report.recipes.push(r);
    report.downloaded += r.downloaded;
    report.bytesDownloaded += r.bytesDownloaded;
    for (const w of r.warnings) ctx.log?.(`${recipe.name}: warning: ${w}`);
  }
  // Only suites that exist (a dry run on a fresh mirror has none yet).
  const layout = mirrorLayout(ctx.config);
  const codenames = [...new Set(recipes.flatMap((r) => r.suites))].filter((c) => existsSync(suiteListPath(layout, c)));
  if (opts.publish !== false && codenames.length) report.published = await publishMirror(ctx, { codenames });
  // The caller prints the summary, line by line (the command on stdout, refresh in its log).
  report.summary = summarizeWarm(report);
  return report;
}

export function summarizeWarm(r: WarmReport): string {
  const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
  const lines = r.recipes.map((x) => {
    const perSuite = Object.entries(x.suites)
      .map(([s, c]) => `${s} ${c.needed}${c.downloaded ? ` (${c.downloaded} ${r.dryRun ? 'to download' : 'new'})` : ''}`)
      .join(', ');
    const head = `${x.recipe} (${x.codename}): ${x.needed} .debs needed, ${x.alreadyInPool} already in the pool, ${r.dryRun ? `${x.toDownload} to download` : `${x.downloaded} downloaded (${mib(x.bytesDownloaded)})`}`;
    return perSuite ? `${head}; by suite: ${perSuite}` : head;
  });
  let head: string;
  if (r.dryRun) {
    const unknown = r.recipes.some((x) => x.warnings.some((w) => w.includes('needed set is unknown')));
    head = unknown ? '[dry-run] warm: the needed set is unknown until the package lists are fetched' : `[dry-run] warm: would download ${r.recipes.reduce((n, x) => n + x.toDownload, 0)} .debs`;
  } else {
    head = r.downloaded === 0 ? 'warm: nothing to download, the mirror already has everything' : `warm: downloaded ${r.downloaded} .debs (${mib(r.bytesDownloaded)})`;
  }
  return [head, ...lines.map((l) => `  ${l}`)].join('\n');
}
