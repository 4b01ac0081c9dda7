/**
 * apt-move backend (mirror.importer "apt-move"), the original recipe's tool.
 *
 * apt-move.conf is written from the configuration as the recipe did
 * (COPYONLY=yes, DIST=<codename>, PKGTYPE=binary, ...), with three changes
 * that keep its guarantees ours:
 *  - LISTSTATE is a private copy of the host's apt lists, decompressed
 *    (this host keeps them lz4-compressed, which apt-move cannot read);
 *    APTSITES names the host part of those list file names.
 *  - FILECACHE is a private directory of copies of the files the native
 *    validation accepted, under their canonical names: apt-move's move4
 *    runs `dpkg-deb -I <name>` through a shell, so a hostile name
 *    (`$(id>pwned).deb`) would run; and its move3 hard-links FILECACHE
 *    into its pool and then chmods/chowns, which must not reach the source.
 *  - LOCALDIR is a private staging repository: apt-move may rm -rf under
 *    its dists/, which the publisher owns. What apt-move placed in the
 *    staging pool is then ingested atomically into the real pool and
 *    recorded in the suite list; publishing stays ours.
 */
import { constants as fsConstants, promises as fsp } from 'node:fs';
import { basename, join } from 'node:path';
import { OperationError, PreflightError } from '../errors.js';
import { shellQuote } from '../quote.js';
import type { Shell } from '../shell.js';
import type { MirrorContext } from './context.js';
import type { DebPackage } from './deb.js';
import { poolRelativePath, type MirrorLayout } from './layout.js';
import { ingestDeb, removeFiles, type IngestResult, type PoolIndex } from './pool.js';

export interface AptMoveConf {
  localDir: string;
  dist: string;
  fileCache: string;
  listState: string;
  aptSites: string[];
}

/** Values are sourced by apt-move's /bin/sh: single-quoted, and paths it uses unquoted must be plain. */
const PLAIN_PATH = /^\/[A-Za-z0-9._+\/-]*$/;

export function renderAptMoveConf(c: AptMoveConf): string {
  for (const p of [c.localDir, c.fileCache, c.listState]) {
    if (!PLAIN_PATH.test(p)) throw new OperationError(`apt-move cannot use the path ${JSON.stringify(p)}: it expands paths unquoted`, 'Use a stateDir made of letters, digits, ".", "_", "+", "-" and "/".');
  }
  return [
    '# Written by nspawn-kit (mirror.importer "apt-move"); rewritten on every import.',
    'COPYONLY=yes',
    `APTSITES=${shellQuote(c.aptSites.join(' '))}`,
    `LOCALDIR=${shellQuote(c.localDir)}`,
    `DIST=${shellQuote(c.dist)}`,
    'PKGTYPE=binary',
    `FILECACHE=${shellQuote(c.fileCache)}`,
    `LISTSTATE=${shellQuote(c.listState)}`,
    'DELETE=no',
    'MAXDELETE=20',
    'PKGCOMP=gzip',
    'CONTENTS=no',
    'GPGKEY=',
    '',
  ].join('\n');
}

const LIST = /^([^_]+)_.*_Packages(\.lz4|\.gz|\.xz)?$/;

/** Host part of apt list file names ("deb.debian.org" of deb.debian.org_debian_dists_..._Packages.lz4). */
export function aptSitesOf(listNames: string[]): string[] {
  return [...new Set(listNames.map((n) => LIST.exec(n)?.[1]).filter((s): s is string => !!s))].sort();
}

const DECOMPRESS: Record<string, string> = { '.lz4': 'lz4 -dc -- "$1" > "$2"', '.gz': 'gzip -dc -- "$1" > "$2"', '.xz': 'xz -dc -- "$1" > "$2"', '': 'cat -- "$1" > "$2"' };

/** Decompresses the host's Packages lists into a private LISTSTATE (only those whose source changed). */
export async function prepareListState(sh: Shell, hostLists: string, listState: string): Promise<string[]> {
  const names = (await fsp.readdir(hostLists).catch(() => [] as string[])).filter((n) => LIST.test(n));
  if (!names.length) throw new PreflightError(`no Packages lists in ${hostLists}`, 'Run `apt-get update` on the host first: apt-move files packages by the host\'s lists.');
  await sh.mkdir(listState);
  const wanted = new Set<string>();
  for (const name of names) {
    const ext = LIST.exec(name)?.[2] ?? '';
    const out = name.slice(0, name.length - ext.length);
    wanted.add(out);
    const src = join(hostLists, name);
    const dst = join(listState, out);
    const [s, d] = await Promise.all([fsp.stat(src), fsp.stat(dst).catch(() => undefined)]);
    if (d && d.mtimeMs === s.mtimeMs) continue;
    const tmp = `${dst}.tmp`;
    await sh.write(['sh', ['-c', DECOMPRESS[ext] ?? DECOMPRESS[''] ?? '', 'sh', src, tmp]], { hint: `could not decompress ${src}` });
    if (!sh.dryRun) {
      await fsp.utimes(tmp, s.atime, s.mtime);
      await fsp.rename(tmp, dst);
    }
  }
  const stale = (await fsp.readdir(listState).catch(() => [] as string[])).filter((n) => n.endsWith('_Packages') && !wanted.has(n));
  await removeFiles(sh, stale.map((n) => join(listState, n)));
  return aptSitesOf(names);
}

export interface AptMoveItem {
  path: string;
  pkg: DebPackage;
}

export type AptMoveOutcome = IngestResult | { status: 'skipped'; pool: string; reason: string };

/**
 * Runs apt-move get + move for one codename over already-validated files;
 * returns, per source path, what happened to it.
 */
export async function ingestWithAptMove(
  ctx: MirrorContext,
  layout: MirrorLayout,
  index: PoolIndex,
  codename: string,
  items: AptMoveItem[],
  hostLists = '/var/lib/apt/lists',
): Promise<Map<string, AptMoveOutcome>> {
  const { sh } = ctx;
  const outcomes = new Map<string, AptMoveOutcome>();
  if (!items.length) return outcomes;
  const base = join(layout.state, 'apt-move');
  const listState = join(base, 'lists');
  const work = join(base, codename);
  const fileCache = join(work, 'filecache');
  const localDir = join(work, 'local');
  const conf = join(work, 'apt-move.conf');
  const aptSites = await prepareListState(sh, hostLists, listState);
  await sh.mkdir(fileCache);
  await sh.mkdir(localDir);
  await sh.writeFile(conf, renderAptMoveConf({ localDir, dist: codename, fileCache, listState, aptSites }));

  // Canonical, safe names only; a second file wanting the same name goes the native way.
  const byName = new Map<string, AptMoveItem>();
  const native: AptMoveItem[] = [];
  for (const item of items) {
    const name = basename(poolRelativePath(item.pkg));
    if (byName.has(name)) native.push(item);
    else byName.set(name, item);
  }
  if (!sh.dryRun) {
    await fsp.rm(fileCache, { recursive: true, force: true });
    await fsp.mkdir(fileCache, { recursive: true });
    for (const [name, item] of byName) {
      const dst = join(fileCache, name);
      // A copy (reflink where the file system can), never a hard link: apt-move's move3 links
      // FILECACHE into its pool and then chmods and chowns, which would reach the source inode.
      await fsp.copyFile(item.path, dst, fsConstants.COPYFILE_EXCL | fsConstants.COPYFILE_FICLONE);
    }
  }
  const env = { TMPDIR: work, LC_ALL: 'C' };
  const onLine = (line: string): void => {
    if (line.trim()) ctx.log?.(`apt-move: ${line.trim()}`);
  };
  await sh.write(['apt-move', ['-c', conf, 'get']], { env, onLine, signal: ctx.signal, hint: 'apt-move get failed: are the host lists readable and APTSITES right?' });
  await sh.write(['apt-move', ['-c', conf, 'move']], { env, onLine, signal: ctx.signal, hint: 'apt-move move failed' });

  if (sh.dryRun) {
    for (const item of items) outcomes.set(item.path, { status: 'imported', pool: poolRelativePath(item.pkg) });
    return outcomes;
  }
  // What apt-move placed in the staging pool this run (staging .debs are removed after each run).
  const staged = (await fsp.readdir(join(localDir, 'pool'), { recursive: true }).catch(() => [] as string[])).filter((p) => p.endsWith('.deb'));
  const stagedByName = new Map(staged.map((p) => [basename(p), join(localDir, 'pool', p)]));
  for (const [name, item] of byName) {
    const stagedPath = stagedByName.get(name);
    if (!stagedPath) {
      outcomes.set(item.path, { status: 'skipped', pool: poolRelativePath(item.pkg), reason: 'apt-move did not place it in its pool (see its "Skipping files" output)' });
      continue;
    }
    outcomes.set(item.path, await ingestDeb(sh, layout, stagedPath, item.pkg, index, ctx.signal));
  }
  for (const item of native) outcomes.set(item.path, await ingestDeb(sh, layout, item.path, item.pkg, index, ctx.signal));
  await removeFiles(sh, [...stagedByName.values()]);
  await fsp.rm(fileCache, { recursive: true, force: true });
  return outcomes;
}
