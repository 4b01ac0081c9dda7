/**
 * Fetching .debs an upstream's signed lists name into the mirror, each filed
 * under its suite(s): only .debs whose SHA256 is not in the pool are
 * downloaded (`apt-get download` in the private root, hashes checked by apt
 * against the verified lists), imported with the native importer, then
 * added to the suite list of every suite they were filed under. Shared by
 * `mirror warm` and the nightly refresh of the update suites.
 */
import { existsSync, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { aptGet, debSpec, type AptRoot, type NeededDeb } from './apt-root.js';
import { downloadProgress } from './apt-status.js';
import type { MirrorContext } from './context.js';
import { sha256File } from './deb.js';
import { importFiles, type ImportReport } from './import.js';
import { poolRelativePath, suiteListPath, type MirrorLayout } from './layout.js';
import { loadPoolIndex } from './pool.js';
import { addToSuite, writeSuite } from './suites.js';

/** A .deb to have in the mirror and the suites it goes under (at least one). */
export interface FiledDeb extends NeededDeb {
  suites: string[];
}

export interface SuiteCount {
  /** .debs filed under the suite. */
  needed: number;
  /** Of those, downloaded in this run (or, in a dry run, that would be). */
  downloaded: number;
}

export interface FetchResult {
  needed: number;
  alreadyInPool: number;
  toDownload: number;
  downloaded: number;
  bytesDownloaded: number;
  /** New entries over all suite lists. */
  addedToSuite: number;
  suites: Record<string, SuiteCount>;
  import?: ImportReport;
  warnings: string[];
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

async function shaToPool(layout: MirrorLayout): Promise<Map<string, string>> {
  const index = await loadPoolIndex(layout);
  return new Map(Object.entries(index.files).filter(([, e]) => e.sha256).map(([rel, e]) => [e.sha256, rel] as const));
}

/** Creates an empty list for each suite that has none (so dists/<suite> is published for machines). */
export async function ensureSuiteLists(ctx: MirrorContext, layout: MirrorLayout, suites: readonly string[]): Promise<void> {
  for (const suite of suites) if (!existsSync(suiteListPath(layout, suite))) await writeSuite(ctx.sh, layout, suite, []);
}

/**
 * Downloads what the pool lacks and files every deb under its suites.
 * `label` prefixes progress lines; `workDir` is where the download directory is made (under the state dir).
 */
export async function fetchAndFile(ctx: MirrorContext, layout: MirrorLayout, root: AptRoot, debs: FiledDeb[], label: string, workDir: string): Promise<FetchResult> {
  const { sh } = ctx;
  const result: FetchResult = { needed: debs.length, alreadyInPool: 0, toDownload: 0, downloaded: 0, bytesDownloaded: 0, addedToSuite: 0, suites: {}, warnings: [] };
  const count = (suite: string): SuiteCount => (result.suites[suite] ??= { needed: 0, downloaded: 0 });
  const bySha = await shaToPool(layout);
  const relOf = new Map<string, string>();
  const missing: FiledDeb[] = [];
  for (const deb of debs) {
    for (const s of deb.suites) count(s).needed++;
    const rel = await inPool(layout, bySha, deb);
    if (rel) relOf.set(deb.sha256, rel);
    else missing.push(deb);
  }
  result.alreadyInPool = debs.length - missing.length;
  result.toDownload = missing.length;
  ctx.log?.(`${label}: ${debs.length} .debs needed, ${result.alreadyInPool} already in the pool, ${missing.length} to download`);

  if (missing.length) {
    if (sh.dryRun) for (const d of missing) for (const s of d.suites) count(s).downloaded++;
    const dl = join(workDir, `download-${process.pid}`);
    await sh.mkdir(dl);
    try {
      const specs = [...new Set(missing.map((d) => debSpec(root, d)))];
      // Totals from the verified lists (each .deb's Size), before the first byte; apt's status lines say how far along.
      const bySpec = new Map(missing.map((d) => [debSpec(root, d), d.size] as const));
      const totalBytes = [...bySpec.values()].reduce((a, n) => a + n, 0);
      const progress = sh.dryRun ? undefined : downloadProgress(sh.progress, { stage: `download ${label}`, total: specs.length, totalBytes });
      const onLine = (line: string): void => {
        if (progress?.onLine(line.trim())) return;
        if (line.trim()) ctx.log?.(`${label}: ${line.trim()}`);
      };
      await aptGet(sh, root, ['-q', '-o', 'APT::Status-Fd=1', 'download', '--', ...specs], { write: true, cwd: sh.dryRun ? undefined : dl, signal: ctx.signal, onLine });
      progress?.finish();
      if (!sh.dryRun) {
        const files = (await fsp.readdir(dl)).filter((n) => n.endsWith('.deb')).map((n) => join(dl, n));
        const wanted = new Map(missing.map((d) => [d.sha256, d] as const));
        const imports: Array<{ path: string; codename: string }> = [];
        for (const path of files) {
          const deb = wanted.get((await sha256File(path)).sha256);
          if (!deb) {
            result.warnings.push(`downloaded ${path} has bytes no list named for this run; not imported`);
            continue;
          }
          result.downloaded++;
          result.bytesDownloaded += (await fsp.stat(path)).size;
          for (const s of deb.suites) count(s).downloaded++;
          imports.push({ path, codename: deb.suites[0] as string });
        }
        if (result.downloaded !== missing.length) result.warnings.push(`expected ${missing.length} downloads, got ${result.downloaded}`);
        if (imports.length) {
          const report = await importFiles(ctx, imports, { noCache: true, importer: 'native', progressStage: `validate ${label}` });
          result.import = report;
          for (const n of Object.values(report.addedToSuites)) result.addedToSuite += n;
          for (const r of report.rejected) result.warnings.push(`downloaded file rejected: ${r.file}: ${r.reason}`);
          for (const c of report.conflicts) result.warnings.push(`conflict: ${c.file}: ${c.reason}`);
          const after = await shaToPool(layout);
          for (const d of missing) {
            const rel = after.get(d.sha256);
            if (rel) relOf.set(d.sha256, rel);
          }
        }
      }
    } finally {
      await sh.remove(dl);
    }
  }
  // Every .deb the pool now holds goes under each of its suites (the import filed it under its first).
  const perSuite = new Map<string, string[]>();
  for (const d of debs) {
    const rel = relOf.get(d.sha256);
    if (!rel) continue;
    for (const s of d.suites) (perSuite.get(s) ?? perSuite.set(s, []).get(s))?.push(rel);
  }
  for (const [suite, rels] of perSuite) result.addedToSuite += (await addToSuite(sh, layout, suite, rels)).length;
  return result;
}
