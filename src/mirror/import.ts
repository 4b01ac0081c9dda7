/**
 * Native importer: top-level *.deb files of apt archive directories are
 * validated, copied atomically into the pool under their canonical name
 * and recorded in their codename's suite list. Source directories are only
 * read (COPYONLY). Bad files are reported by name, quarantined, never listed.
 */
import { availableParallelism } from 'node:os';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { mapLimit } from './archive-scan.js';
import type { Archive } from '../config/types.js';
import type { MirrorContext } from './context.js';
import type { DebPackage } from './deb.js';
import { mirrorLayout } from './layout.js';
import { cleanStaleTemps, commitStaged, ingestDeb, loadPoolIndex, recordInIndex, savePoolIndex } from './pool.js';
import { MachineTrust } from './machine-files.js';
import { listSources, type ArchiveOwnerOf } from './machine-source.js';
import { createValidator, screenFiles, type Candidate, type ImportFile } from './import-files.js';
import { planImport, recordedImports, type ListedFile } from './import-plan.js';
import { judge, settle, type Settlement } from './import-settle.js';
import { addToSuite, readSuite } from './suites.js';
import { ingestWithAptMove, type AptMoveOutcome } from './apt-move.js';
import { cacheKey, emptyReport, loadImportCache, loadQuarantine, saveImportCache, saveQuarantine, type ImportReport, type QuarantineEntry } from './import-state.js';

export interface ImportOptions {
  /** Ignore the cache of already-processed files (re-validate everything). */
  force?: boolean;
  /** Parallel validations; default 2-4 by CPU count. */
  concurrency?: number;
  /** Neither read nor record the cache (files in a temp dir, e.g. warm's downloads). */
  noCache?: boolean;
  /** Override mirror.importer (warm always ingests natively: its downloads are not in the host's lists). */
  importer?: 'native' | 'apt-move';
  /** apt-move: the host's apt lists (default /var/lib/apt/lists). */
  hostLists?: string;
  /** Runs after the files were listed and their sizes seen, before the first open (a seam for tests of what changes meanwhile). */
  afterListing?: (files: readonly ImportFile[]) => Promise<void>;
  /** Bytes of one machine's files copied per run at most (default MACHINE_RUN_BUDGET); the rest waits for the next run. */
  machineBudget?: number;
  /** The progress stage of the validation (sh.progress), default "validate"; warm says whose downloads. */
  progressStage?: string;
}

/** 4 GiB: a dist-upgrade's downloads, and a bound on what one container can make the host write per run. */
export const MACHINE_RUN_BUDGET = 4 * 1024 ** 3;

/** Files a native import validates and ingests at a time (see runImport, step 2). */
export const IMPORT_SLICE = 256;

export function defaultConcurrency(): number {
  return Math.min(4, Math.max(2, availableParallelism()));
}

/**
 * Imports the archive directories; ownerOf says whose each is (a directory
 * under machines.dir is a machine's: triggers/archive-owner.ts archiveOwner).
 */
export async function importArchives(ctx: MirrorContext, archives: Archive[], ownerOf: ArchiveOwnerOf, opts: ImportOptions = {}): Promise<ImportReport> {
  const pre: ImportReport = emptyReport(ctx.sh.dryRun);
  const { admin, machine } = await listSources(ownerOf, ctx.config.machines.dir, archives, pre, ctx.log);
  return runImport(ctx, [...admin, ...(await screenFiles(machine, pre))], opts, pre);
}

/** Imports specific files (the watcher's entry point); each must be a .deb regular file or a symlink inside its directory. */
export async function importFiles(ctx: MirrorContext, files: ImportFile[], opts: ImportOptions = {}): Promise<ImportReport> {
  const pre = emptyReport(ctx.sh.dryRun);
  const accepted = await screenFiles(files, pre);
  return runImport(ctx, accepted, opts, pre);
}

async function runImport(ctx: MirrorContext, files: ImportFile[], opts: ImportOptions, report: ImportReport): Promise<ImportReport> {
  const { sh, config } = ctx;
  const layout = mirrorLayout(config);
  const now = new Date().toISOString();
  const cache = await loadImportCache(layout);
  const index = await loadPoolIndex(layout);
  const quarantine = await loadQuarantine(layout);
  const toAdd = new Map<string, Set<string>>();
  const add = (codename: string, rel: string): void => {
    let s = toAdd.get(codename);
    if (!s) toAdd.set(codename, (s = new Set()));
    s.add(rel);
  };
  // A machine's file goes into the suites whose verified lists name its bytes; an admin's into its configured suite.
  const suitesOfFile = new Map<Candidate, string[]>();
  const quarantined = new Map<string, QuarantineEntry>(quarantine.map((q) => [q.file, q]));
  const released = new Set<string>();
  // Carries out a settlement (import-settle.ts) on the report, the quarantine, the record and the suites.
  const apply = (c: Candidate, s: Settlement): void => {
    switch (s.kind) {
      case 'rejected':
        report.rejected.push({ file: s.file, reason: s.reason });
        quarantined.set(s.file, { file: s.file, reason: s.reason, time: now });
        if (s.remember) cache.entries[cacheKey(c.path, c.codename)] = s.remember;
        ctx.log?.(s.log);
        break;
      case 'ingested':
        report[s.as].push(s.entry);
        for (const suite of suitesOfFile.get(c) ?? [c.codename]) add(suite, s.entry.pool);
        released.add(c.path);
        cache.entries[cacheKey(c.path, c.codename)] = s.record;
        break;
      case 'conflict':
        report.conflicts.push(s.conflict);
        ctx.log?.(s.log);
        break;
      case 'skipped':
        report.skipped.push(s.skipped);
        break;
      case 'warning':
        report.warnings.push(s.warning);
        break;
    }
  };

  report.cleanedTemps = await cleanStaleTemps(sh, layout);
  for (const r of report.rejected) quarantined.set(r.file, { file: r.file, reason: r.reason, time: now });

  // 1. Plan (import-plan.ts): skip what the record says was processed before with the same
  //    size, mtime and inode. Gathered first: what lstat sees of what will be opened (a listed
  //    link's target, never following a link: a swapped name is refused when opened) and, for
  //    the recorded imports, their suite membership and pool file.
  const listed: ListedFile[] = [];
  for (const f of files) {
    const seen = await fsp.lstat(f.openPath ?? f.path).then((st) => ({ size: st.size, mtimeMs: st.mtimeMs, ino: st.ino }), () => undefined);
    listed.push({ file: f, seen });
  }
  const record = opts.force || opts.noCache ? {} : cache.entries;
  const recorded = recordedImports(record, listed);
  const suites = new Map<string, Set<string>>();
  for (const codename of new Set(recorded.map((r) => r.codename))) suites.set(codename, new Set(await readSuite(layout, codename)));
  const inPool = new Set<string>();
  for (const pool of new Set(recorded.map((r) => r.pool))) if (await fsp.stat(join(layout.root, pool)).then(() => true, () => false)) inPool.add(pool);
  const plan = planImport(listed, { record, suites, inPool });
  report.warnings.push(...plan.warnings);
  report.rejected.push(...plan.rejected);
  report.unchanged += plan.unchanged;
  const work = plan.work;
  if (work.length) ctx.log?.(`validating ${work.length} file(s)`);
  const progressStage = opts.progressStage ?? 'validate';
  const reportProgress = (n: number): void => sh.progress({ stage: progressStage, done: n, total: work.length, unit: 'files' });
  if (work.length) reportProgress(0);
  await opts.afterListing?.(work);

  // 2. Validate in parallel (dpkg-deb reads every byte), bounded; a few files per shell.
  //    Unless in a dry run, each file is first copied once into a private temp
  //    (staging-dir.ts), hashed while copied; the copy is what gets validated and
  //    what goes into place, natively or through apt-move (the source may change meanwhile).
  const native = (opts.importer ?? config.mirror.importer) !== 'apt-move';
  const staging = !sh.dryRun;
  const architectures = config.mirror.architectures;
  const concurrency = opts.concurrency ?? defaultConcurrency();
  const size = Math.max(1, Math.min(16, Math.ceil(work.length / concurrency)));
  const trust = new MachineTrust(sh, layout, index, (w) => report.warnings.push(w));
  const validator = createValidator({ sh, layout, trust, staging, architectures, machineBudget: opts.machineBudget ?? MACHINE_RUN_BUDGET, signal: ctx.signal });
  const validateChunk = validator.validateChunk;
  let done = 0;
  // Natively, the files go through steps 2 and 3 in slices: what a slice holds
  // (inspections, staged copies) is dropped before the next one, so importing
  // a big cache (the watcher's start-up reconcile) never holds every file's
  // facts at once. apt-move takes each codename's files in one call (it pairs
  // files that want the same pool name within a call).
  const sliceSize = native ? IMPORT_SLICE : Math.max(1, work.length);
  let indexDirty = false;
  try {
    for (let from = 0; from < work.length; from += sliceSize) {
      const part = work.slice(from, from + sliceSize);
      const chunks: Candidate[][] = [];
      for (let i = 0; i < part.length; i += size) chunks.push(part.slice(i, i + size));
      const inspections = (
        await mapLimit(chunks, concurrency, async (chunk) => {
          const res = await validateChunk(chunk);
          done += chunk.length;
          reportProgress(done);
          return res;
        })
      ).flat();
      // A full disk met while other copies were in flight: each such file is tried again
      // alone, so only a file that really does not fit beside the others is refused.
      for (const [i, c] of part.entries()) {
        if (!c.noSpace) continue;
        c.noSpace = c.retry = false;
        inspections[i] = (await validateChunk([c]))[0] ?? { ok: false, reason: 'not inspected' };
      }

      // 3. Ingest: natively one at a time, in order (two files naming the same pool path meet
      //    deterministically), or through apt-move per codename.
      const valid: { c: Candidate; pkg: DebPackage }[] = [];
      for (const [i, c] of part.entries()) {
        const inspection = inspections[i];
        if (!inspection) continue;
        const suites = inspection.ok && c.machine !== undefined ? await trust.admits(c.codename, inspection.pkg) : [c.codename];
        if (suites.length) suitesOfFile.set(c, suites);
        const judged = judge(c, inspection, suites.length > 0);
        if ('ok' in judged) valid.push({ c, pkg: judged.pkg });
        else apply(c, judged);
      }
      const outcomes = new Map<Candidate, AptMoveOutcome>();
      if (!native) {
        // A machine's files go in natively; apt-move files the admin's from their private validated copies (never the source again).
        const moved = valid.filter((v) => v.c.machine === undefined);
        for (const { c, pkg } of valid) if (c.staged && c.machine !== undefined) outcomes.set(c, await commitStaged(sh, layout, c.staged, pkg, index));
        for (const codename of new Set(moved.map((v) => v.c.codename))) {
          const group = moved.filter((v) => v.c.codename === codename);
          const res = await ingestWithAptMove(ctx, layout, index, codename, group.map((v) => ({ path: v.c.staged?.tmp ?? v.c.path, pkg: v.pkg })), opts.hostLists);
          for (const v of group) {
            const o = res.get(v.c.staged?.tmp ?? v.c.path);
            if (o) outcomes.set(v.c, o);
          }
        }
      } else {
        for (const { c, pkg } of valid) {
          ctx.signal?.throwIfAborted();
          // A dry run stages nothing (it validated the source, read-only): ingestDeb only prints the install.
          outcomes.set(c, c.staged ? await commitStaged(sh, layout, c.staged, pkg, index) : await ingestDeb(sh, layout, c.path, pkg, index, ctx.signal));
        }
      }
      for (const { c, pkg } of valid) {
        const result = outcomes.get(c);
        if (!result) continue;
        const settled = settle(c, pkg, result, suitesOfFile.get(c));
        apply(c, settled);
        if (settled.kind === 'ingested' && (settled.as === 'imported' || !index.files[result.pool]?.sha256)) {
          await recordInIndex(index, layout, result.pool, pkg);
          indexDirty = true;
        }
      }
      // This slice's copies are in place (commit removes its temp) or not wanted.
      for (const c of part) {
        if (!c.staged) continue;
        await fsp.rm(c.staged.tmp, { force: true });
        delete c.staged;
      }
    }

    // 4. Record: pool index, suites, quarantine, cache (last: a crash before it only repeats work).
    if (indexDirty) await savePoolIndex(sh, layout, index);
    for (const [codename, rels] of toAdd) {
      const added = await addToSuite(sh, layout, codename, rels);
      if (added.length) report.addedToSuites[codename] = added.length;
    }
    for (const file of released) quarantined.delete(file);
    // Entries whose file is gone go (admin's, machine's, watcher's or hook's alike): status stays bounded by what exists.
    for (const file of [...quarantined.keys()]) {
      if (await fsp.lstat(file).then(() => false, (err: NodeJS.ErrnoException) => err.code === 'ENOENT' || err.code === 'ENOTDIR')) quarantined.delete(file);
    }
    await saveQuarantine(sh, layout, quarantine, [...quarantined.values()]);
    if (!opts.noCache) await saveImportCache(sh, layout, cache);
  } finally {
    // Copies not put in place (rejected, conflicts, an abort): never left in the pool.
    for (const c of work) if (c.staged) await fsp.rm(c.staged.tmp, { force: true });
    await validator.cleanup();
  }
  // The caller prints the summary (the command on stdout, refresh in its log): logged here it was printed twice.
  return report;
}

export { formatImportReport, summarizeImport, type ImportReport, type ImportedFile } from './import-state.js';
export { listArchive } from './archive-scan.js';
export type { ImportFile } from './import-files.js';
export type { ArchiveOwner, ArchiveOwnerOf } from './machine-source.js';
