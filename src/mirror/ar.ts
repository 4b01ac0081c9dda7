/**
 * The ar structure of a .deb, read strictly (deb(5)): "!<arch>\n", then
 * `debian-binary` holding "2.0\n", then `control.tar[.gz|.xz|.zst]`, then
 * `data.tar[.gz|.xz|.zst|.bz2]`, each member a 60-byte header (name, decimal
 * size, "`\n"), its data and one "\n" after an odd size, and nothing after
 * the last member. Members named `_...` (ignored by dpkg, used by debsigs)
 * may stand anywhere after `debian-binary`; nothing else may.
 *
 * Why our own check: dpkg-deb reads the FIRST control member and stops after
 * data.tar, apt-ftparchive reads the LAST control member and fails on bytes
 * after the last member. A file both accept differently must never get in.
 * Only headers are read (a few positional reads), never the members' data.
 */
import { isOwnDescriptor, openNoFollow, readAt } from '../safe-file.js';

export { isOwnDescriptor } from '../safe-file.js';

export interface ArMember {
  name: string;
  /** Offset of the member's data in the file. */
  offset: number;
  size: number;
}

export type DebLayout = { ok: true; members: ArMember[]; size: number } | { ok: false; reason: string };

/** Reads `length` bytes at `position` (fewer at the end of the file). */
export type ReadAt = (position: number, length: number) => Promise<Buffer>;

const MAGIC = '!<arch>\n';
const HEADER = 60;
/** debian-binary, control, data and a few `_` members: a longer list is not a .deb. */
const MAX_MEMBERS = 16;
const CONTROL = /^control\.tar(?:\.gz|\.xz|\.zst)?$/;
const DATA = /^data\.tar(?:\.gz|\.xz|\.zst|\.bz2)?$/;
/** deb(5): no long-name extensions, an optional trailing "/", at most 15 characters. */
const NAME_FIELD = /^([A-Za-z0-9_.+-]{1,15})\/? *$/;

const show = (b: Buffer): string => JSON.stringify(b.toString('latin1'));

/** A numeric header field: digits (of the radix) then spaces only. */
function numberField(field: Buffer, digits: RegExp): boolean {
  return new RegExp(`^${digits.source}* *$`).test(field.toString('latin1'));
}

/** Checks the layout through `readAt`; `fileSize` is the size seen on the open descriptor. */
export async function checkDebLayout(fileSize: number, readAt: ReadAt): Promise<DebLayout> {
  if (fileSize < MAGIC.length) return { ok: false, reason: `not a Debian archive: ${fileSize} bytes, too short for an ar archive` };
  const magic = await readAt(0, MAGIC.length);
  if (magic.toString('latin1') !== MAGIC) return { ok: false, reason: `not a Debian archive: no ar magic ("!<arch>\\n"), found ${show(magic)}` };
  const members: ArMember[] = [];
  let pos = MAGIC.length;
  let stage: Stage = 'start';
  const last = (): string => members[members.length - 1]?.name ?? 'the ar magic';
  while (pos < fileSize) {
    if (members.length === MAX_MEMBERS) return { ok: false, reason: `more than ${MAX_MEMBERS} ar members` };
    if (fileSize - pos < HEADER) return { ok: false, reason: `${fileSize - pos} unexpected byte(s) after the last member (${last()}) at offset ${pos}` };
    const h = await readAt(pos, HEADER);
    if (h.length < HEADER) return { ok: false, reason: `file shrank while read (offset ${pos})` };
    const where = `ar member header at offset ${pos}`;
    if (h.subarray(58, 60).toString('latin1') !== '`\n') return { ok: false, reason: `bad ${where}: no "\`\\n" terminator (bytes after ${last()}?)` };
    const nameMatch = NAME_FIELD.exec(h.subarray(0, 16).toString('latin1'));
    if (!nameMatch?.[1]) return { ok: false, reason: `bad ${where}: member name ${show(h.subarray(0, 16))}` };
    const name = nameMatch[1];
    const numeric: Array<[string, Buffer, RegExp]> = [
      ['date', h.subarray(16, 28), /[0-9]/],
      ['owner', h.subarray(28, 34), /[0-9]/],
      ['group', h.subarray(34, 40), /[0-9]/],
      ['mode', h.subarray(40, 48), /[0-7]/],
    ];
    for (const [field, value, digits] of numeric) {
      if (!numberField(value, digits)) return { ok: false, reason: `bad ${where} (${name}): ${field} ${show(value)}` };
    }
    const sizeText = h.subarray(48, 58).toString('latin1');
    if (!/^[0-9]{1,10} *$/.test(sizeText)) return { ok: false, reason: `bad ${where} (${name}): size ${JSON.stringify(sizeText)}` };
    const size = Number(sizeText.trim());
    const offset = pos + HEADER;
    if (size > fileSize - offset) return { ok: false, reason: `truncated: member ${name} claims ${size} bytes, ${fileSize - offset} left` };
    if (members.some((m) => m.name === name)) return { ok: false, reason: `duplicate ar member ${name}` };
    const order = memberOrder(name, stage);
    if ('refused' in order) return { ok: false, reason: order.refused };
    stage = order.next;
    if (name === 'debian-binary') {
      const version = await readAt(offset, 5);
      if (size !== 4 || version.subarray(0, 4).toString('latin1') !== '2.0\n') {
        return { ok: false, reason: `unsupported format: debian-binary holds ${show(version.subarray(0, Math.min(size, 5)))}, not "2.0\\n"` };
      }
    }
    members.push({ name, offset, size });
    pos = offset + size;
    if (size % 2 === 1) {
      if (pos === fileSize) return { ok: false, reason: `truncated: no padding byte after the odd-sized member ${name}` };
      const pad = await readAt(pos, 1);
      if (pad.toString('latin1') !== '\n') return { ok: false, reason: `bad padding byte ${show(pad)} after member ${name} at offset ${pos}` };
      pos += 1;
    }
  }
  if (stage === 'start') return { ok: false, reason: 'not a Debian archive: no ar members' };
  if (stage === 'binary') return { ok: false, reason: 'no control.tar member' };
  if (stage === 'control') return { ok: false, reason: 'no data.tar member' };
  return { ok: true, members, size: fileSize };
}

type Stage = 'start' | 'binary' | 'control' | 'data';

/** The stage after member `name`, or why it may not stand here. */
function memberOrder(name: string, stage: Stage): { next: Stage } | { refused: string } {
  if (stage === 'start') return name === 'debian-binary' ? { next: 'binary' } : { refused: `not a Debian archive: first member is ${name}, not debian-binary` };
  if (name.startsWith('_')) return { next: stage };
  if (CONTROL.test(name)) {
    return stage === 'binary' ? { next: 'control' } : { refused: `control member ${name} ${stage === 'data' ? 'after data.tar' : 'out of order'}` };
  }
  if (DATA.test(name)) {
    return stage === 'control' ? { next: 'data' } : { refused: `data member ${name} ${stage === 'binary' ? 'before control.tar' : 'out of order'}` };
  }
  return { refused: `unexpected ar member ${name}${stage === 'data' ? ' after data.tar' : ''} (deb(5) allows only members named _… besides debian-binary, control.tar and data.tar)` };
}

/**
 * Opens the file without following a link or blocking on a FIFO, checks on
 * the descriptor that it is a regular file, and checks its layout. A path to
 * one of this process's own descriptors (/proc/self/fd/N, which the watcher
 * opened and checked itself) is a magic link, so it is followed.
 */
export async function checkDebFile(path: string, opts: { followLinks?: boolean } = {}): Promise<DebLayout> {
  const opened = await openNoFollow(path, 'file', { followLink: opts.followLinks || isOwnDescriptor(path) });
  if (!opened.ok) {
    if (opened.failed === 'kind') return { ok: false, reason: 'not a regular file' };
    if (opened.code === 'ELOOP') return { ok: false, reason: 'symbolic link (not followed)' };
    return { ok: false, reason: `cannot read: ${opened.code}` };
  }
  const { fh, st } = opened;
  try {
    if (st.size === 0) return { ok: false, reason: 'empty file (0 bytes)' };
    return await checkDebLayout(st.size, (position, length) => readAt(fh, position, length));
  } finally {
    await fh.close();
  }
}
