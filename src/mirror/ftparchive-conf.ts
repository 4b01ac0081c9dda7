/**
 * What apt-ftparchive `generate` is given to index one suite, as data: one
 * BinDirectory per architecture whose FileList is exactly the suite's
 * members for that architecture (plus `all`), relative to mirror.root so
 * Filename: is pool-relative. Pure: ftparchive.ts writes and runs the plan.
 *
 * A large suite is indexed by several apt-ftparchive processes at once (it
 * is single-threaded), each over a contiguous run of the sorted file list
 * with its own cache database; their outputs, concatenated, are the index.
 */
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { OperationError } from '../errors.js';
import type { ArchIndex } from './packages-index.js';

/** Members of a suite that belong into binary-<arch>: that architecture and `all` (by the pool name). */
export function membersForArch(members: readonly string[], arch: string): string[] {
  return members.filter((m) => m.endsWith(`_${arch}.deb`) || m.endsWith('_all.deb'));
}

/** apt.conf-style strings cannot escape a double quote: refuse such paths instead of mangling them. */
function confString(value: string): string {
  if (/["\x00-\x1f]/.test(value)) {
    throw new OperationError(`path not usable in an apt-ftparchive configuration: ${JSON.stringify(value)}`, 'Use a directory name without double quotes or control characters.');
  }
  return `"${value}"`;
}

/** Members per apt-ftparchive process below which another process costs more than it saves. */
const MIN_PART = 500;
const MAX_PARTS = 4;

/**
 * How many apt-ftparchive processes index a suite: it is single-threaded and
 * reads every .deb of a cold cache, so a large suite is split into contiguous
 * runs of its sorted file list, one process (and one cache database) each.
 */
export function partsFor(members: number, cpus = availableParallelism()): number {
  return Math.max(1, Math.min(MAX_PARTS, cpus, Math.floor(members / MIN_PART)));
}

/**
 * Contiguous, near-equal runs of a sorted list: their Packages outputs,
 * concatenated in order, are the output for the whole list.
 */
export function splitRuns<T>(items: readonly T[], parts: number): T[][] {
  const runs: T[][] = [];
  for (let k = 0; k < parts; k++) runs.push(items.slice(Math.floor((k * items.length) / parts), Math.floor(((k + 1) * items.length) / parts)));
  return runs;
}

/**
 * The cache database of part k. Part 0 keeps the name a single process uses, so
 * a suite that grows past MIN_PART keeps most of its cache; a file that moves to
 * another part when the list shifts is read once more, then cached there too.
 */
function cacheDbName(k: number): string {
  return k === 0 ? 'packages.db' : `packages-${k}.db`;
}

export interface GenerateRequest {
  members: readonly string[];
  architectures: readonly string[];
  /** Staging directory (same file system as mirror.root, outside dists/<codename>). */
  outDir: string;
  /** apt-ftparchive processes run side by side (default: partsFor(members, CPUs)). */
  parts?: number;
  /** The suite's binary override file (overrides.ts): Priority and Section from the upstream's index. */
  override?: string;
}

export interface ScratchFile {
  path: string;
  text: string;
}

export interface GeneratePlan {
  /** Per architecture, in order: its index (to be finished), its file lists and the Packages output of each part. */
  arches: Array<{ index: ArchIndex; fileLists: ScratchFile[]; outputs: string[] }>;
  /** One apt-ftparchive configuration per process. */
  confs: ScratchFile[];
}

/** The files apt-ftparchive reads and writes to index `req.members` (dirs: mirror.root and the --db cache dir). */
export function planGenerate(req: GenerateRequest, dirs: { root: string; cache: string }): GeneratePlan {
  const parts = Math.max(1, Math.floor(req.parts ?? partsFor(req.members.length)));
  const sections: string[][] = Array.from({ length: parts }, () => []);
  const arches = req.architectures.map((arch) => {
    const dir = join(req.outDir, 'main', `binary-${arch}`);
    const files = membersForArch(req.members, arch).sort();
    const fileLists: ScratchFile[] = [];
    const outputs: string[] = [];
    for (const [k, run] of splitRuns(files, parts).entries()) {
      const suffix = parts === 1 ? '' : `-${k}`;
      const fileList = join(req.outDir, `filelist-${arch}${suffix}`);
      // One part writes the index itself; several write theirs beside it, to be concatenated.
      const output = parts === 1 ? join(dir, 'Packages') : join(req.outDir, `Packages-${arch}${suffix}`);
      fileLists.push({ path: fileList, text: run.length ? `${run.join('\n')}\n` : '' });
      sections[k]!.push(
        `BinDirectory ${confString(`binary-${arch}`)} {`,
        `  Packages ${confString(output)};`,
        `  FileList ${confString(fileList)};`,
        `  BinCacheDB ${confString(cacheDbName(k))};`,
        ...(req.override !== undefined ? [`  BinOverride ${confString(req.override)};`] : []),
        '};',
      );
      outputs.push(output);
    }
    const index: ArchIndex = { arch, dir, files, sizes: new Map(), forms: [] };
    return { index, fileLists, outputs };
  });
  const confs = sections.map((lines, k) => ({
    path: join(req.outDir, parts === 1 ? 'apt-ftparchive.conf' : `apt-ftparchive-${k}.conf`),
    text: [`Dir { ArchiveDir ${confString(dirs.root)}; CacheDir ${confString(dirs.cache)}; };`, 'Default { Packages::Compress "."; FileMode 0644; };', ...lines, ''].join('\n'),
  }));
  return { arches, confs };
}
