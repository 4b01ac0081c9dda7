/**
 * One architecture's Packages index, from apt-ftparchive's output to the
 * three forms the Release signs. apt-ftparchive exits 0 on corrupt .debs,
 * missing files and a full disk, so the output must list exactly the
 * requested files (checkIndex). The .gz and .xz forms are made here, and the
 * bytes hashed are the bytes published.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { OperationError } from '../errors.js';
import { progress, type MirrorContext } from './context.js';
import { hashBuffer, type IndexFile } from './release.js';
import { settleAll } from './settle.js';

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

/** One of the three forms of every Packages index (apt and mmdebstrap want the uncompressed one too). */
export interface IndexForm {
  name: 'Packages' | 'Packages.gz' | 'Packages.xz';
  /** The staged file. */
  staged: string;
  data: Buffer;
  index: IndexFile;
}

/**
 * Makes `index` whole from the Packages output of each apt-ftparchive part
 * (one part wrote <dir>/Packages itself): the parts concatenated, checked,
 * compressed and hashed into index.forms and index.sizes.
 */
export async function finishIndex(ctx: MirrorContext, index: ArchIndex, outputs: readonly string[]): Promise<void> {
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

const gzipAsync = promisify(gzip);

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
