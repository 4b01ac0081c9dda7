/**
 * One group of settled files, validated: each file is stat'ed before and
 * after, and validated in between through a descriptor opened safely
 * (safe-open.ts validateOpened). A file written to meanwhile (size, mtime or
 * the inode validated differ) gets no verdict: it is settled again. A
 * machine's file is never validated in place (a swap to a FIFO would hang
 * dpkg-deb): it passes here, and the importer validates its private copy.
 */
import type { Stats } from 'node:fs';
import { validateOpened, type SafeValidation } from './safe-open.js';

export type GroupOutcome =
  /** Gone before or after the validation: nothing to say. */
  | { path: string; outcome: 'gone' }
  /** Changed while validated: note it again. */
  | { path: string; outcome: 'changed' }
  /** The verdict on the file as `st` describes it. */
  | { path: string; outcome: 'verdict'; st: Stats; verdict: true | string };

export interface GroupCheck {
  /** The entry's stat as the watcher sees it (undefined: gone or refused). */
  statOf: (path: string) => Promise<Stats | undefined>;
  /** Files validated by the importer only (a machine's). */
  notInPlace: (path: string) => boolean;
  validation: SafeValidation;
}

export async function validateGroup(paths: readonly string[], check: GroupCheck): Promise<GroupOutcome[]> {
  const before = await Promise.all(paths.map(check.statOf));
  const inPlace = paths.filter((p) => !check.notInPlace(p));
  // Through descriptors opened here (no link followed, no FIFO waited on), with a deadline.
  const verdicts = inPlace.length ? await validateOpened(inPlace, check.validation) : undefined;
  const out: GroupOutcome[] = [];
  for (const [i, path] of paths.entries()) {
    const after = await check.statOf(path);
    const was = before[i];
    if (!after || !was) {
      out.push({ path, outcome: 'gone' });
      continue;
    }
    const ino = verdicts?.get(path)?.ino;
    if (after.size !== was.size || after.mtimeMs !== was.mtimeMs || (ino !== undefined && ino !== after.ino)) {
      out.push({ path, outcome: 'changed' });
      continue;
    }
    const verdict = inPlace.includes(path) ? (verdicts?.get(path)?.verdict ?? 'not validated') : true;
    out.push({ path, outcome: 'verdict', st: after, verdict });
  }
  return out;
}
