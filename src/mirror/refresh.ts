/**
 * `mirror refresh`, the nightly job: import from every archive, warm the
 * recipes marked `refresh`, fetch the newer versions the update suites
 * (-updates, -security) offer for every package the mirror holds
 * (updates.ts), gc, publish (which also renews Valid-Until).
 * Runs under the mirror-write guard (write-guard.ts); each step's problems are collected so a
 * broken recipe does not stop the rest of the refresh.
 */
import { resolveAllRecipes } from '../config/recipes.js';
import { NspawnKitError, formatError } from '../errors.js';
import type { MirrorContext } from './context.js';
import { gcMirror, summarizeGc } from './gc.js';
import { importArchives, summarizeImport, type ArchiveOwnerOf, type ImportReport } from './import.js';
import { publishMirror, type PublishReport } from './publish.js';
import { printable } from './deb.js';
import { recordedRefresh } from './refresh-record.js';
import { refreshUpdates, type UpdatesReport } from './updates.js';
import { warmRecipes } from './warm.js';
import { withMirrorWrite } from './write-guard.js';

export interface RefreshOptions {
  /** Wait for the mirror lock (default) or fail at once. */
  wait?: boolean;
  /** Skip warming and the update suites (the watcher's quick path: import + publish only). */
  warm?: boolean;
  /** The keyring verifying every upstream suite instead of the distribution keyring (WarmOptions.keyring). */
  keyring?: string;
}

export interface RefreshReport {
  imported: ImportReport;
  warmed: string[];
  /** What warming the `refresh` recipes downloaded: .debs, their bytes, and the list bytes apt reported fetching. */
  warm: { downloaded: number; bytesDownloaded: number; listBytes: number };
  /** The update suites' newer versions (absent on the quick path, or when it failed: see problems). */
  updates?: UpdatesReport;
  published: PublishReport | undefined;
  problems: string[];
  summary: string;
  durationMs: number;
}

/** ownerOf: whose each archive directory is (triggers/archive-owner.ts archiveOwner; see importArchives). */
export async function refreshMirror(ctx: MirrorContext, ownerOf: ArchiveOwnerOf, opts: RefreshOptions = {}): Promise<RefreshReport> {
  const started = Date.now();
  const run = async (): Promise<RefreshReport> => {
    const problems: string[] = [];
    const log = (line: string) => ctx.log?.(line);
    log(`refresh: importing from ${ctx.config.mirror.archives.map((a) => a.path).join(', ')}`);
    const imported = await importArchives(ctx, ctx.config.mirror.archives, ownerOf);
    log(`refresh: ${summarizeImport(imported)}`);
    for (const r of imported.rejected) problems.push(`rejected ${r.file}: ${r.reason}`);
    const warmed: string[] = [];
    const warm = { downloaded: 0, bytesDownloaded: 0, listBytes: 0 };
    let updates: UpdatesReport | undefined;
    if (opts.warm !== false) {
      const all = resolveAllRecipes(ctx.config);
      for (const recipe of all.filter((r) => r.refresh)) {
        try {
          log(`refresh: warming ${recipe.name}`);
          const w = await warmRecipes(ctx, [recipe], { publish: false, ...(opts.keyring ? { keyring: opts.keyring } : {}) });
          warm.downloaded += w.downloaded;
          warm.bytesDownloaded += w.bytesDownloaded;
          for (const x of w.recipes) warm.listBytes += x.listBytes;
          for (const line of w.summary.split('\n')) log(`refresh: ${line}`);
          warmed.push(recipe.name);
        } catch (err) {
          if (!(err instanceof NspawnKitError)) throw err;
          problems.push(`warm ${recipe.name}: ${formatError(err)}`);
        }
      }
      try {
        updates = await refreshUpdates(ctx, all, opts.keyring ? { keyring: opts.keyring } : {});
        log(`refresh: ${updates.summary}`);
        // A skipped codename is named in the summary line; it is not a problem.
        for (const c of updates.codenames) for (const w of c.warnings) problems.push(`updates ${c.codename}: ${w}`);
      } catch (err) {
        if (!(err instanceof NspawnKitError)) throw err;
        problems.push(`updates: ${formatError(err)}`);
      }
    }
    log(`refresh: ${summarizeGc(await gcMirror(ctx, { dryRun: ctx.sh.dryRun }))}`);
    const published = await publishMirror(ctx);
    for (const s of published.suites) for (const q of s.quarantined) problems.push(`quarantined by publish (${s.codename}) ${printable(q.file)}: ${q.reason}`);
    const summary = [
      `imported ${imported.imported.length} new, ${imported.rejected.length} rejected`,
      `warmed ${warmed.length ? `${warmed.join(', ')}: ${warm.downloaded} .debs downloaded (${(warm.bytesDownloaded / 1024).toFixed(1)} KiB), lists ${(warm.listBytes / 1024).toFixed(1)} KiB fetched (apt)` : 'nothing'}`,
      ...(updates ? [updates.summary] : []),
      `published ${published.suites.map((s) => `${s.codename} (${s.packages} packages)`).join(', ') || 'no suites'}`,
      ...(problems.length ? [`${problems.length} problem(s):`, ...problems.map((p) => `  - ${p}`)] : []),
    ].join('\n');
    return { imported, warmed, warm, ...(updates ? { updates } : {}), published, problems, summary, durationMs: Date.now() - started };
  };
  // A one-shot refresh (the command, the nightly hook) stops the gpg-agent afterwards; inside a daemon run the daemon's guard owns it.
  // How it ended goes to <stateDir>/mirror/last-refresh.json for `status` (refresh-record.ts).
  return withMirrorWrite(ctx, () => recordedRefresh(ctx, run), { wait: opts.wait ?? true, purpose: 'mirror refresh' });
}
