/**
 * The nightly refresh of the update suites: for EVERY package the mirror
 * holds (each name/architecture in any suite list of a codename's family),
 * the newer versions that appeared in that codename's update suites
 * (-updates, -security), plus the new dependencies they need that the pool
 * lacks, are downloaded and filed under the suite(s) whose verified list
 * names their bytes. apt resolves (all suites of the codename, --print-uris);
 * if the batch cannot be resolved, the exact newer versions alone are
 * fetched and that is reported. The upstreams of a codename come from the
 * first recipe of that codename with update suites; a codename no such
 * recipe names is skipped and said so; a codename whose refresh fails is
 * reported with its error and the others go on. The private root is
 * <state>/mirror/warm/<codename>/apt-+updates (REFRESH_ROOT), so its verified
 * lists count for machine imports (trusted-index.ts) like warm's.
 */
import { existsSync, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { suiteKind } from '../config/suite-family.js';
import type { Recipe } from '../config/types.js';
import { aptGet, debSpec, parseFetched, parsePrintUris, prepareAptRoot, recipeSources, rootArchitecture, updateRecipeLists, writeFamilyRecord, type AptRoot, type NeededDeb } from './apt-root.js';
import type { MirrorContext } from './context.js';
import { compareVersions } from './deb.js';
import { fetchAndFile, type FiledDeb } from './fetch-debs.js';
import { mirrorLayout, type MirrorLayout } from './layout.js';
import { loadPoolIndex } from './pool.js';
import { listSuites, readSuite } from './suites.js';
import { trustKey, type TrustedPackage } from './trusted-index.js';
import { readSuiteLists, suitesByBytes } from './upstream-lists.js';
import { codenameKeyring } from './warm-base.js';
import { NspawnKitError } from '../errors.js';

export interface UpdatesOptions {
  /** The keyring verifying every suite, instead of the distribution keyring (as WarmOptions.keyring). */
  keyring?: string;
}

export interface CodenameUpdates {
  codename: string;
  /** The recipe whose suites and upstreams were used. */
  recipe?: string;
  /** Why this codename was not refreshed. */
  skipped?: string;
  /** The refresh of this codename failed (the error); the other codenames were refreshed. */
  failed?: string;
  /** Distinct name/architecture pairs held in the codename's suites. */
  checked: number;
  /** "name version (arch)" of each newer version found in an update suite. */
  newer: string[];
  /** .debs needed: the newer versions and the dependencies the pool lacks (all filed). */
  needed: number;
  downloaded: number;
  bytesDownloaded: number;
  /** Bytes apt reported fetching for the lists ("Fetched N kB" of apt-get update; apt's rounding), 0 when it fetched nothing. */
  listBytes: number;
  /** Bytes of list files apt (re)wrote in the private root (measured: size of each list file that changed). */
  listBytesWritten: number;
  /** The batch could not be resolved with its dependencies: only the exact newer versions were fetched. */
  fallback: boolean;
  /** Per suite: .debs filed under it and how many were downloaded. */
  suites: Record<string, { needed: number; downloaded: number }>;
  warnings: string[];
}

export interface UpdatesReport {
  codenames: CodenameUpdates[];
  checked: number;
  newer: number;
  downloaded: number;
  bytesDownloaded: number;
  listBytes: number;
  listBytesWritten: number;
  summary: string;
}

/** The refresh's private root under warm/<codename>/: "+" is in no recipe name (SAFE_NAME), so no recipe's `apt-<name>` is it. */
export const REFRESH_ROOT = 'apt-+updates';

type Stamp = Map<string, string>;
async function listStamps(root: AptRoot): Promise<Stamp> {
  const dir = join(root.dir, 'state', 'lists');
  const out: Stamp = new Map();
  for (const e of await fsp.readdir(dir, { withFileTypes: true }).catch(() => [])) {
    if (!e.isFile()) continue;
    const st = await fsp.stat(join(dir, e.name)).catch(() => undefined);
    if (st) out.set(e.name, `${st.size}:${st.mtimeMs}:${st.ino}`);
  }
  return out;
}

/**
 * Highest version held per name/architecture over the codename's suites, from the pool index
 * (the control fields the importer validated). A member the index lacks is left out: its file
 * name drops the epoch, so a version guessed from it could hide a newer one (the next publish
 * validates and indexes it).
 */
async function heldVersions(layout: MirrorLayout, suites: string[]): Promise<Map<string, string>> {
  const index = await loadPoolIndex(layout);
  const held = new Map<string, string>();
  for (const s of suites) {
    for (const rel of await readSuite(layout, s)) {
      const p = Object.hasOwn(index.files, rel) ? index.files[rel] : undefined;
      if (!p) continue;
      const k = `${p.name}\0${p.architecture}`;
      const have = held.get(k);
      if (have === undefined || compareVersions(p.version, have) > 0) held.set(k, p.version);
    }
  }
  return held;
}

async function refreshCodename(ctx: MirrorContext, layout: MirrorLayout, codename: string, familySuites: string[], recipe: Recipe, opts: UpdatesOptions, out: CodenameUpdates): Promise<void> {
  const { sh } = ctx;
  const keyring = codenameKeyring(codename, opts.keyring);
  // The codename family's own sources only: no extra repository, so no key but the codename's keyring.
  const sources = recipeSources(recipe, keyring);
  const warmDir = join(layout.state, 'warm', codename);
  const root = await prepareAptRoot(sh, join(warmDir, REFRESH_ROOT), rootArchitecture(ctx.config), sources);
  await writeFamilyRecord(sh, root, sources);
  const before = await listStamps(root);
  const update = await updateRecipeLists(sh, root, recipe, keyring, { signal: ctx.signal });
  out.listBytes = parseFetched(`${update.stdout}\n${update.stderr}`);
  for (const [name, stamp] of await listStamps(root)) {
    if (before.get(name) !== stamp) out.listBytesWritten += Number(stamp.split(':')[0]);
  }

  const updateSuites = recipe.suites.filter((s) => s !== codename);
  const held = await heldVersions(layout, familySuites);
  const warn = (w: string): void => void out.warnings.push(w);
  // Only the held names' entries are kept (a release's list is ~50 MB); new dependencies are looked up after resolving.
  const heldNames = new Set([...held.keys()].map((k) => k.slice(0, k.indexOf('\0'))));
  const lists = await readSuiteLists(sh, root, sources, recipe.suites, warn, heldNames);
  out.checked = held.size;
  // The newest version each update suite offers per name/architecture, when newer than what the mirror holds.
  const newest = new Map<string, TrustedPackage>();
  for (const s of updateSuites) {
    for (const p of lists.get(s) ?? []) {
      const k = `${p.name}\0${p.architecture}`;
      const have = held.get(k);
      if (have === undefined || compareVersions(p.version, have) <= 0) continue;
      const best = newest.get(k);
      if (!best || compareVersions(p.version, best.version) > 0) newest.set(k, p);
    }
  }
  const picks = [...newest.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  out.newer = picks.map((p) => `${p.name} ${p.version} (${p.architecture})`);
  if (sh.dryRun && !existsSync(join(root.dir, 'state', 'lists'))) {
    out.skipped = 'dry run: no package lists yet, the newer versions are unknown';
    return;
  }
  if (!picks.length) return;
  const res = await aptGet(sh, root, ['-qq', '--print-uris', '-o', 'Acquire::ForceHash=SHA256', 'install', '--download-only', '-y', '--', ...picks.map((p) => debSpec(root, p))], { write: false, nothrow: true, signal: ctx.signal });
  let needed: NeededDeb[] = res.exitCode === 0 ? parsePrintUris(res.stdout) : [];
  if (res.exitCode !== 0) {
    out.fallback = true;
    out.warnings.push(`apt could not resolve the newer versions together with their dependencies (${(res.stderr.trim().split('\n').pop() ?? '').slice(0, 300)}); fetched the exact newer versions alone`);
    needed = picks.map((p) => ({ ...p, uri: '', source: p.name }));
  }
  const more = new Set(needed.map((d) => d.name).filter((n) => !heldNames.has(n)));
  if (more.size) for (const [suite, pkgs] of await readSuiteLists(sh, root, sources, recipe.suites, undefined, more)) lists.get(suite)?.push(...pkgs);
  const bySuite = suitesByBytes(lists);
  const debs: FiledDeb[] = needed.map((d) => {
    const named = bySuite.get(trustKey(d.name, d.version, d.architecture, d.size, d.sha256));
    return { ...d, suites: named?.length ? named : [codename] };
  });
  const fetched = await fetchAndFile(ctx, layout, root, debs, `refresh ${codename}`, warmDir);
  out.needed = fetched.needed;
  out.downloaded = fetched.downloaded;
  out.bytesDownloaded = fetched.bytesDownloaded;
  out.suites = fetched.suites;
  out.warnings.push(...fetched.warnings);
}

/** One line for a codename's failure: the hint (what failed, what to check) and the error's last line (apt's E: line). */
function failure(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const last = message.trim().split('\n').pop()?.trim() ?? '';
  return err instanceof NspawnKitError && err.hint ? `${err.hint} (${last})` : last;
}

/** Refreshes every codename family the mirror holds; `recipes` are the resolved recipes (their suites and upstreams). */
export async function refreshUpdates(ctx: MirrorContext, recipes: Recipe[], opts: UpdatesOptions = {}): Promise<UpdatesReport> {
  const layout = mirrorLayout(ctx.config);
  const families = new Map<string, string[]>();
  for (const s of await listSuites(layout)) {
    const c = suiteKind(s).codename;
    (families.get(c) ?? families.set(c, []).get(c))?.push(s);
  }
  const report: UpdatesReport = { codenames: [], checked: 0, newer: 0, downloaded: 0, bytesDownloaded: 0, listBytes: 0, listBytesWritten: 0, summary: '' };
  for (const [codename, suites] of families) {
    ctx.signal?.throwIfAborted();
    const out: CodenameUpdates = { codename, checked: 0, newer: [], needed: 0, downloaded: 0, bytesDownloaded: 0, listBytes: 0, listBytesWritten: 0, fallback: false, suites: {}, warnings: [] };
    report.codenames.push(out);
    const recipe = recipes.find((r) => r.codename === codename && r.suites.length > 1);
    if (!recipe) {
      out.skipped = `no recipe of ${codename} has update suites (their upstreams come from a recipe); skipped`;
      ctx.log?.(`refresh: ${out.skipped}`);
      continue;
    }
    out.recipe = recipe.name;
    ctx.log?.(`refresh: checking ${codename}'s update suites for newer versions (upstreams of recipe ${recipe.name})`);
    try {
      await refreshCodename(ctx, layout, codename, suites, recipe, opts, out);
    } catch (err) {
      // One codename's failure (an upstream down, a bad list) does not stop the others.
      if (ctx.signal?.aborted) throw err;
      out.failed = failure(err);
      out.warnings.push(`refresh of ${codename} failed: ${out.failed}`);
    }
    for (const w of out.warnings) ctx.log?.(`refresh ${codename}: warning: ${w}`);
    report.checked += out.checked;
    report.newer += out.newer.length;
    report.downloaded += out.downloaded;
    report.bytesDownloaded += out.bytesDownloaded;
    report.listBytes += out.listBytes;
    report.listBytesWritten += out.listBytesWritten;
  }
  report.summary = summarizeUpdates(report);
  return report;
}

export function summarizeUpdates(r: UpdatesReport): string {
  const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
  const skipped = r.codenames.filter((c) => c.skipped).map((c) => `${c.codename} (${c.skipped})`);
  const failed = r.codenames.filter((c) => c.failed).map((c) => `${c.codename} (${c.failed})`);
  return (
    `updates: ${r.checked} packages checked, ${r.newer} newer versions, ${r.downloaded} .debs downloaded (${kib(r.bytesDownloaded)}), ` +
    `lists: ${kib(r.listBytes)} fetched (apt), ${kib(r.listBytesWritten)} written` +
    (skipped.length ? `; not checked: ${skipped.join(', ')}` : '') +
    (failed.length ? `; failed: ${failed.join(', ')}` : '')
  );
}
