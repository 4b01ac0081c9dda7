/**
 * Cache warming: everything a recipe needs lands in the mirror, so the next
 * build needs no network. The needed set is computed first (debootstrap
 * --print-debs for the base set of the variant, apt's resolver with a
 * private root for the closure of base set + recipe packages); only .debs
 * whose SHA256 is not already in the pool are downloaded (`apt-get
 * download`, hashes checked against the signed indices), then imported
 * into the recipe's codename and published. Warming again when nothing
 * changed downloads no .deb and says so.
 */
import { createHash } from 'node:crypto';
import { existsSync, promises as fsp, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Recipe } from '../config/types.js';
import { OperationError, PreflightError } from '../errors.js';
import { aptGet, aptUri, parsePrintUris, prepareAptRoot, recipeSources, type AptRoot, type NeededDeb } from './apt-root.js';
import type { MirrorContext } from './context.js';
import { sha256File } from './deb.js';
import { importFiles, type ImportReport } from './import.js';
import { mirrorLayout, poolRelativePath, suiteListPath, type MirrorLayout } from './layout.js';
import { loadPoolIndex } from './pool.js';
import { publishMirror, type PublishReport } from './publish.js';
import { addToSuite } from './suites.js';

export interface WarmOptions {
  /** Publish the warmed suites at the end (default true; `mirror refresh` publishes once itself). */
  publish?: boolean;
}

export interface RecipeWarm {
  recipe: string;
  codename: string;
  /** Packages of the variant's base set (debootstrap --print-debs). */
  baseSet: number;
  /** The base set came from the cache (the upstream InRelease did not change). */
  baseSetCached: boolean;
  /** .debs in the closure of base set + recipe packages. */
  needed: number;
  alreadyInPool: number;
  /** Not in the pool: fetched (or, in a dry run, would be). */
  toDownload: number;
  downloaded: number;
  bytesDownloaded: number;
  /** New entries in the codename's suite list. */
  addedToSuite: number;
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

/** The keyring debootstrap's suite script names (Debian: debian-archive-keyring.gpg). */
export function suiteKeyring(codename: string): string {
  const script = `/usr/share/debootstrap/scripts/${codename}`;
  let keyring = '/usr/share/keyrings/debian-archive-keyring.gpg';
  try {
    keyring = /^keyring\s+(\S+)/m.exec(readFileSync(script, 'utf8'))?.[1] ?? keyring;
  } catch {
    // no script: debootstrap cannot bootstrap it either; the Debian keyring is the best guess
  }
  return keyring;
}

function warmArchitecture(ctx: MirrorContext): string {
  const { host, mirror } = ctx.config;
  return mirror.architectures.includes(host.architecture) ? host.architecture : (mirror.architectures[0] ?? host.architecture);
}

/** apt's list file name of a suite's InRelease (URItoFileName: scheme dropped, "/" -> "_"). */
function inReleaseListName(upstream: string, codename: string): string {
  const stripped = aptUri(upstream).replace(/^[a-z]+:\/\/(?:[^@/]*@)?/, '').replace(/\/+$/, '');
  return `${stripped}/dists/${codename}/InRelease`.replace(/\//g, '_');
}

async function inReleaseKey(root: AptRoot, recipe: Recipe): Promise<string | undefined> {
  const lists = join(root.dir, 'state', 'lists');
  const exact = join(lists, inReleaseListName(recipe.upstream, recipe.codename));
  if (existsSync(exact)) return (await sha256File(exact)).sha256;
  const all = (await fsp.readdir(lists).catch(() => [] as string[])).filter((n) => n.endsWith('_InRelease')).sort();
  if (!all.length) return undefined;
  const h = createHash('sha256');
  for (const n of all) h.update((await sha256File(join(lists, n))).sha256);
  return h.digest('hex');
}

/** Base set of the variant: cached per upstream InRelease, else debootstrap --print-debs in a temp dir under stateDir. */
async function baseSet(ctx: MirrorContext, layout: MirrorLayout, recipe: Recipe, root: AptRoot, keyring: string): Promise<{ names: string[]; cached: boolean }> {
  const { sh } = ctx;
  const warmDir = join(layout.state, 'warm', recipe.codename);
  const id = createHash('sha256').update(JSON.stringify([recipe.upstream, recipe.variant, recipe.components, root.architecture])).digest('hex').slice(0, 16);
  const cacheFile = join(warmDir, `base-${recipe.variant}-${root.architecture}-${id}.json`);
  const key = await inReleaseKey(root, recipe);
  const cached = await fsp.readFile(cacheFile, 'utf8').then((t) => JSON.parse(t) as { key?: string; names?: string[] }, () => undefined);
  if (key && cached?.key === key && Array.isArray(cached.names)) return { names: cached.names, cached: true };

  const args = [
    '--print-debs',
    ...(recipe.variant === 'default' ? [] : [`--variant=${recipe.variant}`]),
    `--arch=${root.architecture}`,
    `--components=${recipe.components.join(',')}`,
    `--keyring=${keyring}`,
  ];
  if (sh.dryRun) {
    await sh.write(['debootstrap', [...args, recipe.codename, join(warmDir, 'tmp', 'target'), aptUri(recipe.upstream)]]);
    return { names: cached?.names ?? [], cached: false };
  }
  await fsp.mkdir(warmDir, { recursive: true });
  const tmp = await fsp.mkdtemp(join(warmDir, 'tmp-'));
  try {
    ctx.log?.(`${recipe.name}: computing the ${recipe.variant} base set (debootstrap --print-debs)`);
    // debootstrap creates and deletes the target itself: hand it a path that does not exist yet.
    const out = await sh.read(['debootstrap', [...args, recipe.codename, join(tmp, 'target'), aptUri(recipe.upstream)]], {
      signal: ctx.signal,
      env: { LC_ALL: 'C' },
      hint: `debootstrap could not resolve the ${recipe.variant} base set of ${recipe.codename} from ${recipe.upstream}; check the upstream URL and the network.`,
    });
    const names = out.stdout.split(/\s+/).filter((n) => /^[a-z0-9][a-z0-9+.-]+$/.test(n));
    if (!names.length) throw new OperationError(`debootstrap --print-debs printed no packages for ${recipe.codename} (${recipe.variant})`);
    if (key) await sh.writeFile(cacheFile, `${JSON.stringify({ key, names })}\n`);
    return { names, cached: false };
  } finally {
    await sh.remove(tmp);
  }
}

/** Pool file holding exactly this .deb (by SHA256), if any. */
async function inPool(layout: MirrorLayout, bySha: Map<string, string>, deb: NeededDeb): Promise<string | undefined> {
  const known = bySha.get(deb.sha256);
  if (known && existsSync(join(layout.root, known))) return known;
  const rel = poolRelativePath(deb);
  const path = join(layout.root, rel);
  if (!existsSync(path)) return undefined;
  return (await sha256File(path)).sha256 === deb.sha256 ? rel : undefined;
}

async function warmOne(ctx: MirrorContext, recipe: Recipe): Promise<RecipeWarm> {
  const { sh } = ctx;
  const layout = mirrorLayout(ctx.config);
  const result: RecipeWarm = { recipe: recipe.name, codename: recipe.codename, baseSet: 0, baseSetCached: false, needed: 0, alreadyInPool: 0, toDownload: 0, downloaded: 0, bytesDownloaded: 0, addedToSuite: 0, warnings: [] };
  const architecture = warmArchitecture(ctx);
  const keyring = suiteKeyring(recipe.codename);
  if (!existsSync(keyring)) {
    throw new PreflightError(`the archive keyring ${keyring} for ${recipe.codename} is missing`, 'Install the distribution\'s archive keyring package (debian-archive-keyring or ubuntu-keyring).');
  }
  const { sources, skipped } = recipeSources(recipe, keyring, existsSync);
  result.warnings.push(...skipped);
  const root = await prepareAptRoot(sh, join(layout.state, 'warm', recipe.codename, `apt-${recipe.name}`), architecture, sources);
  const onLine = (line: string): void => {
    if (line.trim()) ctx.log?.(`${recipe.name}: ${line.trim()}`);
  };

  ctx.log?.(`${recipe.name}: updating the private package lists from ${recipe.upstream}`);
  await aptGet(sh, root, ['-q', '-o', 'APT::Update::Error-Mode=any', 'update'], { write: true, signal: ctx.signal, onLine, hint: `apt-get update failed for ${recipe.upstream}: check the URL, the network and the keyring ${keyring}.` });

  const base = await baseSet(ctx, layout, recipe, root, keyring);
  result.baseSet = base.names.length;
  result.baseSetCached = base.cached;
  const wanted = [...new Set([...base.names, ...recipe.packages])];
  if (sh.dryRun && !existsSync(join(root.dir, 'state', 'lists'))) {
    result.warnings.push('dry run: no package lists yet, the needed set is unknown');
    return result;
  }
  const resolved = await aptGet(sh, root, ['-qq', '--print-uris', '-o', 'Acquire::ForceHash=SHA256', 'install', '--download-only', '-y', '--', ...wanted], {
    write: false,
    nothrow: sh.dryRun,
    signal: ctx.signal,
    hint: `apt could not resolve ${recipe.packages.join(', ') || 'the base set'} for ${recipe.codename}: is every package name available in ${recipe.upstream}?`,
  });
  const needed = parsePrintUris(resolved.stdout);
  result.needed = needed.length;

  const index = await loadPoolIndex(layout);
  const bySha = new Map(Object.entries(index.files).filter(([, e]) => e.sha256).map(([rel, e]) => [e.sha256, rel] as const));
  const present: string[] = [];
  const missing: NeededDeb[] = [];
  for (const deb of needed) {
    const rel = await inPool(layout, bySha, deb);
    if (rel) present.push(rel);
    else missing.push(deb);
  }
  result.alreadyInPool = present.length;
  result.toDownload = missing.length;
  ctx.log?.(`${recipe.name}: ${needed.length} .debs needed, ${present.length} already in the pool, ${missing.length} to download`);

  if (present.length) result.addedToSuite += (await addToSuite(sh, layout, recipe.codename, present)).length;
  if (!missing.length) return result;

  const dl = join(layout.state, 'warm', recipe.codename, `download-${process.pid}`);
  await sh.mkdir(dl);
  try {
    const specs = missing.map((d) => `${d.name}:${d.architecture === 'all' ? architecture : d.architecture}=${d.version}`);
    await aptGet(sh, root, ['-q', 'download', '--', ...specs], { write: true, cwd: sh.dryRun ? undefined : dl, signal: ctx.signal, onLine });
    if (sh.dryRun) return result;
    const files = (await fsp.readdir(dl)).filter((n) => n.endsWith('.deb')).map((n) => join(dl, n));
    result.downloaded = files.length;
    for (const f of files) result.bytesDownloaded += (await fsp.stat(f)).size;
    if (files.length !== missing.length) result.warnings.push(`expected ${missing.length} downloads, got ${files.length}`);
    const report = await importFiles(ctx, files.map((path) => ({ path, codename: recipe.codename })), { noCache: true, importer: 'native' });
    result.import = report;
    result.addedToSuite += Object.hasOwn(report.addedToSuites, recipe.codename) ? (report.addedToSuites[recipe.codename] ?? 0) : 0;
    for (const r of report.rejected) result.warnings.push(`downloaded file rejected: ${r.file}: ${r.reason}`);
    for (const c of report.conflicts) result.warnings.push(`conflict: ${c.file}: ${c.reason}`);
  } finally {
    await sh.remove(dl);
  }
  return result;
}

export async function warmRecipes(ctx: MirrorContext, recipes: Recipe[], opts: WarmOptions = {}): Promise<WarmReport> {
  const report: WarmReport = { dryRun: ctx.sh.dryRun, recipes: [], downloaded: 0, bytesDownloaded: 0, summary: '' };
  for (const recipe of recipes) {
    ctx.signal?.throwIfAborted();
    const r = await warmOne(ctx, recipe);
    report.recipes.push(r);
    report.downloaded += r.downloaded;
    report.bytesDownloaded += r.bytesDownloaded;
    for (const w of r.warnings) ctx.log?.(`${recipe.name}: warning: ${w}`);
  }
  // Only suites that exist (a dry run on a fresh mirror has none yet).
  const layout = mirrorLayout(ctx.config);
  const codenames = [...new Set(recipes.map((r) => r.codename))].filter((c) => existsSync(suiteListPath(layout, c)));
  if (opts.publish !== false && codenames.length) report.published = await publishMirror(ctx, { codenames });
  report.summary = summarizeWarm(report);
  ctx.log?.(report.summary);
  return report;
}

export function summarizeWarm(r: WarmReport): string {
  const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
  const lines = r.recipes.map(
    (x) => `${x.recipe} (${x.codename}): ${x.needed} .debs needed, ${x.alreadyInPool} already in the pool, ${r.dryRun ? `${x.toDownload} to download` : `${x.downloaded} downloaded (${mib(x.bytesDownloaded)})`}`,
  );
  let head: string;
  if (r.dryRun) {
    const unknown = r.recipes.some((x) => x.warnings.some((w) => w.includes('needed set is unknown')));
    head = unknown ? '[dry-run] warm: the needed set is unknown until the package lists are fetched' : `[dry-run] warm: would download ${r.recipes.reduce((n, x) => n + x.toDownload, 0)} .debs`;
  } else {
    head = r.downloaded === 0 ? 'warm: nothing to download, the mirror already has everything' : `warm: downloaded ${r.downloaded} .debs (${mib(r.bytesDownloaded)})`;
  }
  return [head, ...lines.map((l) => `  ${l}`)].join('\n');
}
