/**
 * What becomes of each file the importer read, pure: from its inspection
 * (and, for a machine's file, whether a verified list names its bytes) and
 * from what the pool step did with it, one Settlement saying every change
 * to make (report, quarantine, import cache, suite). The apply step
 * (import.ts) carries these out; nothing here reads or writes anything.
 */
import type { DebInspection, DebPackage } from './deb.js';
import type { AptMoveOutcome } from './apt-move.js';
import type { Candidate } from './import-files.js';
import type { ImportCacheEntry, ImportedFile } from './import-state.js';
import { notVerified } from './machine-files.js';

export type Settlement =
  /** Reported as rejected and quarantined; remembered in the import cache only when it cannot pass later. */
  | { kind: 'rejected'; file: string; reason: string; remember: ImportCacheEntry | undefined; log: string }
  /** Into the pool (or there already): reported, listed in the suite, released from quarantine, remembered in the import cache. */
  | { kind: 'ingested'; as: 'imported' | 'alreadyPresent'; entry: ImportedFile; record: ImportCacheEntry }
  | { kind: 'conflict'; conflict: { file: string; codename: string; pool: string; reason: string }; log: string }
  | { kind: 'skipped'; skipped: { file: string; reason: string } }
  | { kind: 'warning'; warning: string };

const identity = (c: Candidate) => ({ size: c.size, mtimeMs: c.mtimeMs, ino: c.ino });

/**
 * A validated file goes on to the pool step ({ ok, pkg }), or is settled as
 * rejected: a bad .deb (remembered unless it may pass later: c.retry), or a
 * machine's file whose bytes no verified list names (admitted false; never
 * remembered: the list may come).
 */
export function judge(c: Candidate, inspection: DebInspection, admitted: boolean): { ok: true; pkg: DebPackage } | Settlement {
  if (inspection.ok) {
    if (c.machine === undefined || admitted) return { ok: true, pkg: inspection.pkg };
    // Its apt name was promised, its bytes are not: what a hostile container would plant.
    const reason = notVerified(c.codename, c.machine);
    return { kind: 'rejected', file: c.path, reason, remember: undefined, log: `rejected ${c.path}: ${reason}` };
  }
  const remember = c.retry ? undefined : { ...identity(c), rejected: inspection.reason };
  return { kind: 'rejected', file: c.path, reason: inspection.reason, remember, log: `rejected ${c.path}: ${inspection.reason}` };
}

/** What the pool step's outcome for a valid file means (suites: where it is filed, default its codename). */
export function settle(c: Candidate, pkg: DebPackage, result: AptMoveOutcome, suites: readonly string[] = [c.codename]): Settlement {
  switch (result.status) {
    case 'imported':
    case 'present': {
      const entry: ImportedFile = { file: c.path, codename: c.codename, suites: [...suites], pool: result.pool, package: pkg.name, version: pkg.version, architecture: pkg.architecture };
      return { kind: 'ingested', as: result.status === 'imported' ? 'imported' : 'alreadyPresent', entry, record: { ...identity(c), pool: result.pool } };
    }
    case 'conflict':
      return { kind: 'conflict', conflict: { file: c.path, codename: c.codename, pool: result.pool, reason: result.reason }, log: `conflict ${c.path}: ${result.reason}` };
    case 'skipped':
      return { kind: 'skipped', skipped: { file: c.path, reason: result.reason } };
    case 'changed':
      return { kind: 'warning', warning: `${c.path}: ${result.reason}` };
    case 'no-space':
      // Reported by name and listed in status; not remembered, so the next import retries it.
      return { kind: 'rejected', file: c.path, reason: result.reason, remember: undefined, log: `not imported ${c.path}: ${result.reason}` };
  }
}
