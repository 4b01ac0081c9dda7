/**
 * The importer's plan, pure: from the files listed (each with the size,
 * mtime and inode seen before the first open, or gone), the import cache
 * (what each file was found to be last time, by path and codename) and the state
 * of the suites and the pool for the recorded files, decide which files are
 * validated and ingested (work), which are reported as rejected again
 * without being read, which vanished (a warning), and how many are
 * unchanged. The apply step (import.ts runImport) gathers these facts, then
 * validates, ingests and records what the plan says.
 */
import type { ImportFile, Candidate } from './import-files.js';
import { cacheKey, type ImportCacheEntry } from './import-state.js';

/** A file's identity as lstat saw it; a cache entry is valid while all three are the same. */
export interface SeenFile {
  size: number;
  mtimeMs: number;
  ino: number;
}

/** A listed file, and what lstat saw of what will be opened (undefined: it vanished). */
export interface ListedFile {
  file: ImportFile;
  seen: SeenFile | undefined;
}

export interface PlanFacts {
  /** The import cache's entries, by cacheKey(path, codename); empty when it is not to be used (force, noCache). */
  record: Readonly<Record<string, ImportCacheEntry>>;
  /** Pool paths listed in each codename's suite (needed for the recorded imports: recordedImports). */
  suites: ReadonlyMap<string, ReadonlySet<string>>;
  /** Pool paths (pool-relative) that exist (needed for the recorded imports). */
  inPool: ReadonlySet<string>;
}

export interface ImportPlan {
  /** To validate and ingest, in the listed order. */
  work: Candidate[];
  /** Rejected before and the same file still: reported again, not read again. */
  rejected: { file: string; reason: string }[];
  warnings: string[];
  /** Files the import cache says are done: imported (and listed, or trimmed from the suite by gc) or rejected. */
  unchanged: number;
}

/** The cache entry for a listed file when it still describes the same file (size, mtime and inode). */
export function recordFor(record: PlanFacts['record'], listed: ListedFile): ImportCacheEntry | undefined {
  const { seen, file } = listed;
  if (!seen) return undefined;
  const hit = record[cacheKey(file.path, file.codename)];
  return hit && hit.size === seen.size && hit.mtimeMs === seen.mtimeMs && hit.ino === seen.ino ? hit : undefined;
}

/** The recorded imports whose suite and pool state the plan needs: codename and pool path, per file. */
export function recordedImports(record: PlanFacts['record'], listed: readonly ListedFile[]): { codename: string; pool: string }[] {
  const out: { codename: string; pool: string }[] = [];
  for (const l of listed) {
    const hit = recordFor(record, l);
    if (hit?.pool !== undefined && hit.rejected === undefined) out.push({ codename: l.file.codename, pool: hit.pool });
  }
  return out;
}

export function planImport(listed: readonly ListedFile[], facts: PlanFacts): ImportPlan {
  const plan: ImportPlan = { work: [], rejected: [], warnings: [], unchanged: 0 };
  for (const l of listed) {
    const { file, seen } = l;
    if (!seen) {
      plan.warnings.push(`${file.path}: vanished before it could be read`);
      continue;
    }
    const hit = recordFor(facts.record, l);
    if (hit) {
      if (hit.rejected !== undefined) {
        plan.rejected.push({ file: file.path, reason: hit.rejected });
        plan.unchanged++;
        continue;
      }
      // Listed but missing from the pool: repair. Not listed: gc trimmed it; leave it out.
      const inSuite = hit.pool !== undefined && (facts.suites.get(file.codename)?.has(hit.pool) ?? false);
      const inPool = hit.pool !== undefined && facts.inPool.has(hit.pool);
      if (!inSuite || inPool) {
        plan.unchanged++;
        continue;
      }
    }
    plan.work.push({ ...file, size: seen.size, mtimeMs: seen.mtimeMs, ino: seen.ino });
  }
  return plan;
}
