/**
 * Runs the apt-ftparchive processes of one indexing and judges their output.
 * apt-ftparchive exits 0 whatever happens, so its E:/W: lines decide:
 *   - a message about one file (it ends a file's messages with "Errors apply
 *     to file '...'", or names the file it could not open) makes that file
 *     bad: IndexingFailed lists them, so the publisher can drop them and
 *     index the rest;
 *   - a damaged cache database ("Unable to open DB file") is removed and the
 *     run repeated once: it is a cache, rebuilt from the .debs;
 *   - "No space left" is a NoSpaceError; anything else fails the publish.
 */
import { promises as fsp } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { OperationError } from '../errors.js';
import type { RunResult } from '../shell.js';
import { printable } from './deb.js';
import { progress, type MirrorContext } from './context.js';
import { mirrorLayout } from './layout.js';
import { freeBytes } from './publish-space.js';

/** Files apt-ftparchive could not index, each with its messages (pool-relative path -> message). */
export class IndexingFailed extends OperationError {
  constructor(readonly badFiles: Map<string, string>) {
    super(`apt-ftparchive could not index ${[...badFiles.keys()].map((f) => printable(f)).join(', ')}`);
  }
}

/** The file system ran full: one line naming where, and how much space the publish needs. */
export class NoSpaceError extends OperationError {
  readonly code = 'ENOSPC';
  constructor(readonly path: string) {
    super(`no space left on the file system of ${path}`);
  }
}

export interface FtparchiveVerdict {
  /** Pool-relative file -> its messages, in order. */
  badFiles: Map<string, string[]>;
  /** Cache databases apt-ftparchive could not open. */
  damagedDbs: string[];
  noSpace: boolean;
  /** Problems that are about no file we asked for. */
  other: string[];
}

/** Reads one apt-ftparchive output (stdout and stderr): which files, databases or resources failed. */
export function judgeOutput(output: string, root: string): FtparchiveVerdict {
  const verdict: FtparchiveVerdict = { badFiles: new Map(), damagedDbs: [], noSpace: false, other: [] };
  const member = (path: string): string | undefined => {
    const rel = relative(root, path).split(sep).join('/');
    return rel.startsWith('pool/') ? rel : undefined;
  };
  const blame = (file: string, lines: string[]): void => {
    verdict.badFiles.set(file, [...(verdict.badFiles.get(file) ?? []), ...lines]);
  };
  let pending: string[] = [];
  for (const raw of output.split('\n')) {
    const line = raw.trim();
    if (/No space left on device/i.test(line)) verdict.noSpace = true;
    if (!/^(E|W):/.test(line)) continue;
    const applies = /^E: Errors apply to file '(.*)'$/.exec(line);
    const opened = /^[EW]: Could not open file (\/.*?) - /.exec(line);
    const db = /^E: Unable to open DB file (\/.*?): /.exec(line);
    const file = applies?.[1] ? member(applies[1]) : opened?.[1] ? member(opened[1]) : undefined;
    if (applies && file) {
      blame(file, pending.length ? pending : ['(no message)']);
      pending = [];
    } else if (opened && file) blame(file, [line]);
    else if (db?.[1]) verdict.damagedDbs.push(db[1]);
    else if (/^E: DB format is invalid/.test(line)) continue; // the "Unable to open DB file" line names it
    else pending.push(line);
  }
  verdict.other.push(...pending);
  return verdict;
}

/**
 * Runs one apt-ftparchive per configuration (at once), repairs a damaged
 * cache database once, and throws IndexingFailed, NoSpaceError or an
 * OperationError for anything else. Returns false in a dry run.
 */
export async function runFtparchive(ctx: MirrorContext, confPaths: string[], run: (conf: string) => Promise<RunResult>): Promise<boolean> {
  const layout = mirrorLayout(ctx.config);
  await removeStaleDbTemps(ctx, layout.cache);
  for (let attempt = 0; ; attempt++) {
    const settled = await Promise.allSettled(confPaths.map(run));
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    const results = settled.map((r) => (r as PromiseFulfilledResult<RunResult>).value);
    if (results.some((r) => r.skipped)) return false;
    const verdicts = results.map((r) => judgeOutput(`${r.stderr}\n${r.stdout}`, layout.root));
    if (verdicts.some((v) => v.noSpace)) {
      // It writes under mirror.root (the index) and under stateDir (its cache): name the fuller one.
      const [root, cache] = await Promise.all([layout.root, layout.cache].map((p) => freeBytes(p).catch(() => Infinity)));
      throw new NoSpaceError((cache ?? Infinity) < (root ?? Infinity) ? layout.cache : layout.root);
    }
    const damaged = verdicts.flatMap((v) => v.damagedDbs).filter((db) => dirname(db) === layout.cache);
    const bad = new Map(verdicts.flatMap((v) => [...v.badFiles].map(([f, lines]) => [f, lines.join(' / ')] as const)));
    const other = verdicts.flatMap((v) => v.other);
    if (damaged.length && attempt === 0) {
      // A cache: moved aside (one copy kept for a post-mortem) and rebuilt by the next run.
      for (const db of damaged) {
        progress(ctx, `apt-ftparchive could not open its cache ${db}: moved aside to ${db}.damaged, indexing again`);
        await fsp.rename(db, `${db}.damaged`).catch(() => fsp.rm(db, { force: true }));
      }
      await removeStaleDbTemps(ctx, layout.cache);
      continue;
    }
    if (bad.size) throw new IndexingFailed(bad);
    const problems = [...other, ...damaged.map((db) => `E: cache database ${db} still unusable after a rebuild`)];
    if (problems.length) {
      throw new OperationError(
        `apt-ftparchive reported problems (it exits 0 anyway); nothing was published:\n${problems.slice(0, 20).map((p) => `  ${printable(p)}`).join('\n')}`,
        `Check free space under mirror.root and ${layout.cache}, then publish again.`,
      );
    }
    return true;
  }
}


/**
 * Berkeley DB creates a database as __db.<name> and renames it; a run that
 * died (full disk, SIGKILL) leaves that file, and every later run then retries
 * for 100 seconds and gives up ("Retry limit (100) exceeded", "File exists").
 * Runs hold the mirror lock, so a leftover is never in use: removed.
 */
async function removeStaleDbTemps(ctx: MirrorContext, cacheDir: string): Promise<void> {
  if (ctx.sh.dryRun) return;
  const names = await fsp.readdir(cacheDir).catch(() => [] as string[]);
  for (const name of names.filter((n) => /^__db\.packages(?:-\d+)?\.db$/.test(n))) {
    progress(ctx, `removing ${join(cacheDir, name)}, left by an apt-ftparchive run that did not finish`);
    await fsp.rm(join(cacheDir, name), { force: true });
  }
}
