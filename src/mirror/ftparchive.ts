/**
 * Packages indices with apt-ftparchive `generate`: one BinDirectory per
 * architecture whose FileList is exactly the suite's members for that
 * architecture (plus `all`), run against mirror.root so Filename: is
 * pool-relative. Its --db cache with AlwaysStat keeps the cost proportional
 * to new or changed .debs, not to the pool.
 *
 * A large suite is indexed by several apt-ftparchive processes at once (it
 * is single-threaded), each over a contiguous run of the sorted file list
 * with its own cache database; their outputs, concatenated, are the index.
 *
 * apt-ftparchive exits 0 on corrupt .debs, missing files and a full disk, so
 * its word is never taken: its messages are judged (ftparchive-run.ts), and
 * the output must list exactly the requested files. The .gz and .xz forms
 * are made here.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { OperationError } from '../errors.js';
import { progress, type MirrorContext } from './context.js';
import { mirrorLayout } from './layout.js';
import { hashBuffer, type IndexFile } from './release.js';
import { runFtparchive } from './ftparchive-run.js';

/** The three forms of every Packages index (apt and mmdebstrap want the uncompressed one too). */
export const PACKAGES_FILES = ['Packages', 'Packages.gz', 'Packages.xz'] as const;

export interface ArchIndex {
  arch: string;
  /** Directory holding Packages, Packages.gz, Packages.xz. */
  dir: string;
  /** Pool-relative paths indexed, sorted. */
  files: string[];
  /** Size: of every indexed file, by pool path. */
  sizes: Map<string, number>;
  /**
   * Packages, Packages.gz, Packages.xz as written to `dir`, with their
   * hashes (path relative to dists/<codename>); empty in a dry run.
   */
  forms: IndexForm[];
}

export interface IndexForm {
  name: (typeof PACKAGES_FILES)[number];
  /** The staged file. */
  staged: string;
  data: Buffer;
  index: IndexFile;
}

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

export interface GenerateRequest {
  members: readonly string[];
  architectures: readonly string[];
  /** Staging directory (same file system as mirror.root, outside dists/<codename>). */
  outDir: string;
  /** apt-ftparchive processes run side by side (default: partsFor(members, CPUs)). */
  parts?: number;
}

/**
 * AlwaysStat: a cached .deb is re-read when its size or mtime changed, not only
 * its name. The checksums are Debian's own archive's: MD5sum and SHA256 (apt
 * and debootstrap check SHA256; verify and the trusted index read it). SHA1 and
 * SHA512 per package made the index 40% bigger, and apt-ftparchive hashed every
 * .deb four times instead of twice.
 */
const FTPARCHIVE_OPTIONS = [
  '-o',
  'APT::FTPArchive::AlwaysStat=true',
  '-o',
  'APT::FTPArchive::Packages::SHA1=false',
  '-o',
  'APT::FTPArchive::Packages::SHA512=false',
];

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

/** Writes <outDir>/main/binary-<arch>/Packages{,.gz,.xz} for every architecture and checks them. */
export async function generatePackages(ctx: MirrorContext, req: GenerateRequest): Promise<ArchIndex[]> {
  const { sh } = ctx;
  const layout = mirrorLayout(ctx.config);
  await sh.mkdir(layout.cache);
  const parts = Math.max(1, Math.floor(req.parts ?? partsFor(req.members.length)));
  const indices: ArchIndex[] = [];
  const confs: string[][] = Array.from({ length: parts }, () => []);
  /** Per architecture, the Packages file of each part (one part writes the index itself). */
  const partOutputs: string[][] = [];
  for (const arch of req.architectures) {
    const dir = join(req.outDir, 'main', `binary-${arch}`);
    const files = membersForArch(req.members, arch).sort();
    await sh.mkdir(dir);
    const outputs: string[] = [];
    for (const [k, run] of splitRuns(files, parts).entries()) {
      const suffix = parts === 1 ? '' : `-${k}`;
      const fileList = join(req.outDir, `filelist-${arch}${suffix}`);
      const output = parts === 1 ? join(dir, 'Packages') : join(req.outDir, `Packages-${arch}${suffix}`);
      await scratchFile(ctx, fileList, run.length ? `${run.join('\n')}\n` : '');
      confs[k]!.push(
        `BinDirectory ${confString(`binary-${arch}`)} {`,
        `  Packages ${confString(output)};`,
        `  FileList ${confString(fileList)};`,
        `  BinCacheDB ${confString(cacheDbName(k))};`,
        '};',
      );
      outputs.push(output);
    }
    partOutputs.push(outputs);
    indices.push({ arch, dir, files, sizes: new Map(), forms: [] });
  }
  const confPaths = await Promise.all(
    confs.map(async (sections, k) => {
      const conf = [
        `Dir { ArchiveDir ${confString(layout.root)}; CacheDir ${confString(layout.cache)}; };`,
        'Default { Packages::Compress "."; FileMode 0644; };',
        ...sections,
        '',
      ].join('\n');
      const confPath = join(req.outDir, parts === 1 ? 'apt-ftparchive.conf' : `apt-ftparchive-${k}.conf`);
      await scratchFile(ctx, confPath, conf);
      return confPath;
    }),
  );
  const ran = await runFtparchive(ctx, confPaths, (confPath) =>
    sh.write(['apt-ftparchive', ['-q', ...FTPARCHIVE_OPTIONS, 'generate', '--', confPath]], { cwd: layout.root, signal: ctx.signal }),
  );
  if (!ran) return indices;
  await settleAll(
    indices.map(async (index, i) => {
      const outputs = partOutputs[i]!;
      let text: Buffer;
      if (outputs.length === 1) text = await fsp.readFile(outputs[0]!);
      else {
        text = Buffer.concat(await Promise.all(outputs.map((o) => fsp.readFile(o))));
        await fsp.writeFile(join(index.dir, 'Packages'), text, { mode: 0o644 });
      }
      // xz (its own process) and gzip (libuv's pool) work while the index is checked and hashed here.
      const compressed = compressIndex(ctx, index, text);
      let sizes: Map<string, number>;
      let plain: IndexForm;
      try {
        sizes = checkIndex(index, text);
        plain = form(index, 'Packages', text);
      } catch (err) {
        await compressed.catch(() => undefined);
        throw err;
      }
      const [gz] = await compressed;
      // The bytes hashed are the bytes published: the .xz as xz wrote it, read back.
      index.forms = [plain, form(index, 'Packages.gz', gz), form(index, 'Packages.xz', await fsp.readFile(join(index.dir, 'Packages.xz')))];
      index.sizes = sizes;
      progress(ctx, `indexed ${index.files.length} packages for binary-${index.arch}`);
    }),
  );
  return indices;
}

/**
 * A scratch file of the staging dir: planned in a dry run; otherwise written
 * plainly (nothing reads it after a crash, and a stale staging dir is removed).
 */
async function scratchFile(ctx: MirrorContext, path: string, data: string | Buffer): Promise<void> {
  if (ctx.sh.dryRun) await ctx.sh.writeFile(path, data);
  else await fsp.writeFile(path, data, { mode: 0o644 });
}

/** Filename and Size of every paragraph of a Packages index, in order ('' and 0 when absent). */
export function indexEntries(text: string): Array<{ filename: string; size: number }> {
  const out: Array<{ filename: string; size: number }> = [];
  for (const para of text.split(/\n[ \t]*\n/)) {
    if (para.trim() === '') continue;
    out.push({
      filename: /^Filename:[ \t]*(.*?)[ \t]*$/m.exec(para)?.[1] ?? '',
      size: Number(/^Size:[ \t]*(.*?)[ \t]*$/m.exec(para)?.[1] ?? 0),
    });
  }
  return out;
}

/** The index lists exactly the requested files: a full disk or a corrupt .deb must not pass as success. */
function checkIndex(index: ArchIndex, text: Buffer): Map<string, number> {
  const entries = indexEntries(text.toString('utf8'));
  const listed = new Set(entries.map((e) => e.filename));
  const missing = index.files.filter((f) => !listed.has(f));
  if (entries.length !== index.files.length || missing.length) {
    throw new OperationError(
      `bad Packages index for binary-${index.arch}: expected ${index.files.length} packages, got ${entries.length}${missing.length ? ` (missing: ${missing.slice(0, 5).join(', ')})` : ''}; nothing was published`,
      'Check free space and the .debs under mirror.root, then publish again.',
    );
  }
  return new Map(entries.map((e) => [e.filename, e.size]));
}

/** Bytes per xz block (and thread) at least: xz -0's dictionary; smaller blocks compress worse and gain little. */
const XZ_MIN_BLOCK = 256 * 1024;

/** xz options that cut `size` bytes into one block per thread (none for a small file or one CPU). */
export function xzThreadArgs(size: number, cpus = availableParallelism()): string[] {
  const threads = Math.max(1, Math.min(cpus, Math.floor(size / XZ_MIN_BLOCK)));
  return threads > 1 ? ['-T', String(threads), `--block-size=${Math.ceil(size / threads)}`] : [];
}

/**
 * Packages.gz and Packages.xz, made here rather than by apt-ftparchive: its
 * built-in xz (level 6) took 1 s of CPU for a 2,000-package index, most of the
 * incremental budget; xz -0 takes 0.13 s for a file within 3% of the size
 * (the checksums in an index hardly compress). xz(1) also reports write
 * errors in its exit status, where apt-ftparchive exits 0. An index of 512 KiB
 * and more is cut into blocks compressed on several CPUs: one .xz stream either way.
 * Both run at once; the gzip on libuv's thread pool.
 */
async function compressIndex(ctx: MirrorContext, index: ArchIndex, text: Buffer): Promise<[gz: Buffer]> {
  const xz = ctx.sh.write(['xz', ['-0', ...xzThreadArgs(text.length), '--keep', '--force', '--', join(index.dir, 'Packages')]], {
    signal: ctx.signal,
    hint: 'Check free space under mirror.root.',
  });
  const gz = gzipAsync(text).then(async (data) => {
    await fsp.writeFile(join(index.dir, 'Packages.gz'), data, { mode: 0o644 });
    return data;
  });
  const [, gzData] = await settleAll<unknown>([xz, gz]);
  return [gzData as Buffer];
}

function form(index: ArchIndex, name: IndexForm['name'], data: Buffer): IndexForm {
  return { name, staged: join(index.dir, name), data, index: hashBuffer(`main/binary-${index.arch}/${name}`, data) };
}

/**
 * Promise.all that waits for every promise to settle before it throws the
 * first error: no process or write is still at work in the staging dir when
 * the caller reports the failure and removes it.
 */
export async function settleAll<T>(promises: Array<Promise<T>>): Promise<T[]> {
  const settled = await Promise.allSettled(promises);
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((r) => (r as PromiseFulfilledResult<T>).value);
}

const gzipAsync = promisify(gzip);
