/**
 * Opening a file that someone hostile may control (a machine's root, an
 * archive directory anyone can drop files into, an HTTP client's URL), the
 * one way the whole project does it:
 *
 * - open with O_NOFOLLOW (a symbolic link in the last component is refused
 *   with ELOOP, never followed) and O_NONBLOCK (a FIFO without a writer, or a
 *   device, cannot hang the open); libuv adds O_CLOEXEC;
 * - fstat the open descriptor (not the name, which can be swapped meanwhile)
 *   and accept only the kind asked for: a regular file or a directory;
 * - read at most a bound, whatever the file grows to while it is read.
 *
 * Where a descriptor really points (/proc/self/fd) is proc.ts's; it is
 * re-exported here because the callers check it right after the open.
 * Callers keep their own wording: a failure says what happened (the errno
 * code, or the stat of what was opened), not what to tell the user.
 */
import { constants, promises as fsp, type BigIntStats, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';

export { descriptorPath, isOwnDescriptor, ownDescriptorPath } from './proc.js';

export type OpenKind = 'file' | 'directory';

export interface OpenOptions {
  /** Follow a link in the last component (only for paths the caller made itself, e.g. its own /proc/self/fd/N). */
  followLink?: boolean;
  /** fstat with nanosecond times (BigIntStats). */
  bigint?: boolean;
}

export type Opened<S> = { ok: true; fh: FileHandle; st: S };

/**
 * Why nothing was opened: `open` failed with an errno code (ELOOP: a
 * symbolic link; ENXIO: a socket or a FIFO without a writer; ENOENT ...),
 * `stat` failed on the descriptor, or `kind`: what was opened is not what was
 * asked for (its stat is given). The descriptor is closed in every case.
 */
export type NotOpened<S> =
  | { ok: false; failed: 'open'; code: string }
  | { ok: false; failed: 'stat'; code: string }
  | { ok: false; failed: 'kind'; st: S };

export type OpenResult<S> = Opened<S> | NotOpened<S>;

const NO_FOLLOW = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

const codeOf = (err: unknown): string => (err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : String(err));

/** Opens `path` read-only without following a link or blocking, and checks the descriptor's kind. */
export async function openNoFollow(path: string, kind: OpenKind, opts: OpenOptions & { bigint: true }): Promise<OpenResult<BigIntStats>>;
export async function openNoFollow(path: string, kind: OpenKind, opts?: OpenOptions & { bigint?: false }): Promise<OpenResult<Stats>>;
export async function openNoFollow(path: string, kind: OpenKind, opts: OpenOptions = {}): Promise<OpenResult<Stats | BigIntStats>> {
  const flags = (opts.followLink ? NO_FOLLOW & ~constants.O_NOFOLLOW : NO_FOLLOW) | (kind === 'directory' ? constants.O_DIRECTORY : 0);
  let fh: FileHandle;
  try {
    fh = await fsp.open(path, flags);
  } catch (err) {
    return { ok: false, failed: 'open', code: codeOf(err) };
  }
  let st: Stats | BigIntStats;
  try {
    st = opts.bigint ? await fh.stat({ bigint: true }) : await fh.stat();
  } catch (err) {
    await fh.close().catch(() => undefined);
    return { ok: false, failed: 'stat', code: codeOf(err) };
  }
  if (kind === 'file' ? st.isFile() : st.isDirectory()) return { ok: true, fh, st };
  await fh.close().catch(() => undefined);
  return { ok: false, failed: 'kind', st };
}

/** `length` bytes at `position` (fewer at the end of the file). */
export async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  const { bytesRead } = await fh.read(buf, 0, length, position);
  return buf.subarray(0, bytesRead);
}

/**
 * The file from `position` to its end, but never more than max + 1 bytes:
 * `over` says there was more than max (then `bytes` holds max + 1), however
 * much the file grows while it is read.
 */
export async function readBounded(fh: FileHandle, max: number, position = 0): Promise<{ bytes: Buffer; over: boolean }> {
  const buf = Buffer.alloc(max + 1);
  let got = 0;
  while (got < buf.length) {
    const { bytesRead } = await fh.read(buf, got, buf.length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return { bytes: buf.subarray(0, got), over: got > max };
}

export interface ChunkOptions {
  /** Read no more than this many bytes in all (Infinity: to the end). */
  max: number;
  /** Size of the one buffer reused for every chunk. */
  bufferSize: number;
  /** Checked before every read. */
  signal?: AbortSignal;
}

/**
 * The file from its current position in chunks of one reused buffer (use a
 * chunk before asking for the next), stopping at its end or after `max` bytes.
 */
export async function* readChunks(fh: FileHandle, opts: ChunkOptions): AsyncGenerator<Buffer> {
  const buf = Buffer.allocUnsafe(opts.bufferSize);
  for (let total = 0; total < opts.max; ) {
    opts.signal?.throwIfAborted();
    const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, opts.max - total), null);
    if (bytesRead === 0) return;
    total += bytesRead;
    yield buf.subarray(0, bytesRead);
  }
}

/**
 * A small JSON record of ours that others could have replaced (daemon.json,
 * last-refresh.json): opened without following a link or blocking, a regular
 * file on the descriptor, at most `max` bytes, parsed, then validated by
 * `parse` (a string is why it is refused). Absent: `{}`; anything else wrong:
 * `{ error }` naming the file, never a record.
 */
export async function readJsonRecord<T>(path: string, max: number, parse: (value: unknown) => T | string): Promise<{ record?: T; error?: string }> {
  const opened = await openNoFollow(path, 'file');
  if (!opened.ok) {
    if (opened.failed === 'open' && opened.code === 'ENOENT') return {};
    return { error: `${path}: ${opened.failed === 'kind' ? 'not a regular file' : opened.code}` };
  }
  try {
    const { bytes, over } = await readBounded(opened.fh, max);
    if (over) return { error: `${path}: larger than ${max} bytes` };
    let parsed: unknown;
    try {
      parsed = JSON.parse(bytes.toString('utf8'));
    } catch {
      return { error: `${path}: not valid JSON` };
    }
    const rec = parse(parsed);
    return typeof rec === 'string' ? { error: `${path}: ${rec}` } : { record: rec };
  } finally {
    await opened.fh.close().catch(() => undefined);
  }
}
