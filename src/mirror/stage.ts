/**
 * Staging: a source .deb is copied ONCE into a private temp name in the
 * staging directory (staging-dir.ts: outside what is published, on the pool's
 * file system, so the later link is atomic), hashed while copied. The
 * importer validates this copy and only this copy goes into place.
 *
 * Every file (a machine's or the admin's) is opened without following a link
 * (O_NOFOLLOW: an in-directory symlink was resolved once, when the directory
 * was listed, and its target is what is opened) and without blocking
 * (O_NONBLOCK: a FIFO put there cannot hang the import). The open descriptor
 * must be a regular file whose real path (/proc/self/fd) lies in the archive's
 * real directory, so a name swapped for a link after listing (to the signing
 * key, say) is refused without a byte copied. No more than the size seen
 * when listing (or a size a verified list gives) + 1 byte is ever read.
 * A machine's file must also not be sparse (64 sparse aliases must not make
 * the host write 64 full copies).
 *
 * A full disk is not the file's fault: the copy is removed and the caller
 * gets a one-line reason naming the directory and the space needed.
 */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { descriptorPath, openNoFollow, readChunks } from '../safe-file.js';
import type { MirrorLayout } from './layout.js';

/** Temp names in the pool carry the writer's PID so a dead writer's leftovers can be told apart. */
export const TEMP_NAME = /^\.nk-(\d+)-[0-9a-f]+\..+\.tmp$/;

export function tempName(finalName: string): string {
  return `.nk-${process.pid}-${randomBytes(6).toString('hex')}.${finalName}.tmp`;
}

export function isPoolTemp(name: string): boolean {
  return TEMP_NAME.test(name);
}

export interface StagedDeb {
  /** Private copy in the pool (temp name, mode 0600). */
  tmp: string;
  sha256: string;
  size: number;
}

export type StageResult =
  | { ok: true; staged: StagedDeb }
  /** noSpace: the disk was full (not the file's fault: do not remember the verdict); changed: retry later. */
  | { ok: false; reason: string; noSpace?: boolean; changed?: boolean };

export interface StageOptions {
  /**
   * The real directory the opened file must lie in (checked on the open
   * descriptor through /proc/self/fd). Required: nothing is copied without it.
   */
  realDir: string;
  /** The path to open instead of `source` (an in-directory symlink's target, resolved when listed). */
  openPath?: string;
  /** The size seen when the file was listed: another size at open is refused (retried later), and the copy stops at it + 1 byte. */
  listedSize?: number;
  /** Machine files: refuse a sparse file (fewer blocks allocated than its size needs). */
  refuseSparse?: boolean;
  /**
   * The sizes a verified list gives for this file: anything else is refused
   * before a byte is copied, and the copy stops one byte past the size.
   */
  expectedSizes?: readonly number[];
  /** Where the temp goes (default: the pool; a dry run stages outside the mirror). */
  dir?: string;
  signal?: AbortSignal;
}

/** A one-line ENOSPC reason: the directory, the bytes this file needs, the bytes available. */
export async function noSpaceReason(dir: string, needed: number): Promise<string> {
  const st = await fsp.statfs(dir).catch(() => undefined);
  const free = st ? ` (${st.bavail * st.bsize} available)` : '';
  return `no space left on device: copying into ${dir} needs ${needed} bytes${free}; not imported (free space there, then import again)`;
}

/**
 * write(2) may write less than asked when the disk fills (it reports ENOSPC
 * only on the next call): a short write ignored would leave a truncated copy
 * that then fails validation as "corrupt", a verdict about the disk blamed on the file.
 */
async function writeAll(out: FileHandle, chunk: Buffer): Promise<void> {
  for (let off = 0; off < chunk.length; ) {
    const { bytesWritten } = await out.write(chunk, off, chunk.length - off);
    if (bytesWritten === 0) throw Object.assign(new Error('no space left on device (write wrote nothing)'), { code: 'ENOSPC' });
    off += bytesWritten;
  }
}

/** Sparse: fewer bytes allocated than the size needs, beyond what rounding, inline data or fs compression of headers explain. */
export function looksSparse(st: { size: number; blocks: number }): boolean {
  return st.blocks * 512 + SPARSE_SLACK < st.size;
}
const SPARSE_SLACK = 64 * 1024;

export async function stageDeb(layout: MirrorLayout, source: string, opts: StageOptions): Promise<StageResult> {
  const opened = await openNoFollow(opts.openPath ?? source, 'file');
  if (!opened.ok) {
    if (opened.failed === 'kind') return { ok: false, reason: 'not a regular file' };
    if (opened.code === 'ELOOP') return { ok: false, reason: 'symbolic link where a regular file was listed (not followed)' };
    if (opened.code === 'ENXIO') return { ok: false, reason: 'not a regular file (a socket or a FIFO without a writer)' };
    return { ok: false, reason: `cannot read: ${opened.code}` };
  }
  const { fh: src, st } = opened;
  const dir = opts.dir ?? layout.pool;
  let tmp: string | undefined;
  let keep = false;
  let size = 0;
  let limit = Infinity;
  try {
    // The kernel's word on what was opened: a name swapped for a link, or a directory on the way swapped, is caught here.
    const where = await descriptorPath(src.fd);
    if (where === undefined || dirname(where) !== opts.realDir) {
      return { ok: false, reason: `opened file is ${where ?? 'unknown'}, not in the archive directory ${opts.realDir} (swapped after listing?); not copied` };
    }
    if (opts.listedSize !== undefined) {
      if (st.size !== opts.listedSize) return { ok: false, changed: true, reason: `changed since it was listed (${opts.listedSize} bytes, now ${st.size}); not imported (it will be retried)` };
      limit = st.size;
    }
    if (opts.expectedSizes) {
      if (!opts.expectedSizes.includes(st.size)) {
        return { ok: false, reason: `${st.size} bytes, but the verified index gives ${[...new Set(opts.expectedSizes)].join(' or ')}; not copied` };
      }
      limit = st.size;
    }
    if (opts.refuseSparse && looksSparse(st)) return { ok: false, reason: `sparse file (${st.size} bytes, ${st.blocks * 512} allocated); not copied` };
    await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
    tmp = join(dir, tempName('incoming.deb'));
    const out = await fsp.open(tmp, 'wx', 0o600);
    const hash = createHash('sha256');
    try {
      // Sized to the file (most .debs are small): a 1 MiB buffer per file is external
      // memory the GC reclaims late, and it fragments the malloc heap of a long-running daemon.
      const bufferSize = Math.max(4096, Math.min(1 << 20, st.size + 1));
      // At most one byte past the expected size: enough to see that the file grew.
      for await (const chunk of readChunks(src, { max: limit + 1, bufferSize, signal: opts.signal })) {
        size += chunk.length;
        if (size > limit) return { ok: false, reason: `grew past ${limit} bytes while it was copied; not imported` };
        hash.update(chunk);
        await writeAll(out, chunk);
      }
      await out.sync();
    } finally {
      await out.close();
    }
    if (limit !== Infinity && size !== limit) return { ok: false, reason: `shrank to ${size} bytes while it was copied (expected ${limit}); not imported` };
    keep = true;
    return { ok: true, staged: { tmp, sha256: hash.digest('hex'), size } };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
    // The partial copy goes first, so the space reported is what the disk really has.
    if (tmp) await fsp.rm(tmp, { force: true });
    return { ok: false, reason: await noSpaceReason(dir, st.size), noSpace: true };
  } finally {
    await src.close();
    if (!keep && tmp) await fsp.rm(tmp, { force: true });
  }
}
