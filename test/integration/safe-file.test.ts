/**
 * The one way hostile files are opened (src/safe-file.ts), against the real
 * things a hostile writer can put at a name: a FIFO without a writer, a
 * socket, a symbolic link (to a file, to a directory), a directory, a file
 * bigger than the bound, a file renamed or deleted after the open. Every
 * refusal must leave no descriptor open.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, realpathSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { descriptorPath, isOwnDescriptor, openNoFollow, ownDescriptorPath, readAt, readBounded, readChunks } from '../../src/safe-file.js';

const base = realpathSync(mkdtempSync(join(tmpdir(), 'nk-safe-file-')));
const file = join(base, 'ten.bin');
const dir = join(base, 'dir');
const fifo = join(base, 'fifo');
const sock = join(base, 'sock');
const linkToFile = join(base, 'link-to-file');
const linkToDir = join(base, 'link-to-dir');
let server: Server | undefined;

test.before(async () => {
  writeFileSync(file, '0123456789');
  mkdirSync(dir);
  execFileSync('mkfifo', ['--', fifo]);
  symlinkSync(file, linkToFile);
  symlinkSync(dir, linkToDir);
  server = createServer();
  await new Promise<void>((resolve) => server!.listen(sock, resolve));
});
test.after(async () => {
  await new Promise((resolve) => server?.close(resolve));
  rmSync(base, { recursive: true, force: true });
});

const openFds = () => readdirSync('/proc/self/fd').length;

/** Fails instead of hanging if an open ever blocks (a FIFO without a writer would). */
async function within<T>(ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`blocked for ${ms} ms`)), ms)));
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

test('a regular file opens; its fstat is the descriptor\'s (number or bigint)', async () => {
  const r = await openNoFollow(file, 'file');
  assert.ok(r.ok);
  if (!r.ok) return;
  try {
    assert.is(r.st.size, 10);
    assert.ok(r.st.isFile());
    assert.is((await readAt(r.fh, 3, 4)).toString(), '3456');
    assert.is((await readAt(r.fh, 8, 4)).toString(), '89', 'fewer bytes at the end');
  } finally {
    await r.fh.close();
  }
  const big = await openNoFollow(file, 'file', { bigint: true });
  assert.ok(big.ok);
  if (!big.ok) return;
  assert.is(big.st.size, 10n);
  await big.fh.close();
});

test('refusals: what a hostile writer can put at the name, each closed again, none blocking', async () => {
  const before = openFds();
  assert.equal(await within(2000, openNoFollow(linkToFile, 'file')), { ok: false, failed: 'open', code: 'ELOOP' });
  assert.equal(await within(2000, openNoFollow(sock, 'file')), { ok: false, failed: 'open', code: 'ENXIO' });
  assert.equal(await within(2000, openNoFollow(join(base, 'missing'), 'file')), { ok: false, failed: 'open', code: 'ENOENT' });
  // A FIFO opens read-only without blocking (O_NONBLOCK) and is refused on its fstat.
  const f = await within(2000, openNoFollow(fifo, 'file'));
  assert.is(f.ok === false && f.failed === 'kind' && f.st.isFIFO(), true);
  const d = await openNoFollow(dir, 'file');
  assert.is(d.ok === false && d.failed === 'kind' && d.st.isDirectory(), true);
  // O_DIRECTORY with O_NOFOLLOW: a link to a directory is not a directory; nor is a file or a FIFO.
  assert.equal(await openNoFollow(linkToDir, 'directory'), { ok: false, failed: 'open', code: 'ENOTDIR' });
  assert.equal(await openNoFollow(file, 'directory'), { ok: false, failed: 'open', code: 'ENOTDIR' });
  assert.equal(await within(2000, openNoFollow(fifo, 'directory')), { ok: false, failed: 'open', code: 'ENOTDIR' });
  assert.is(openFds(), before, 'no descriptor left open');
});

test('a directory opens as a directory; a link is followed only when asked', async () => {
  const d = await openNoFollow(dir, 'directory');
  assert.is(d.ok && d.st.isDirectory(), true);
  if (d.ok) await d.fh.close();
  const l = await openNoFollow(linkToFile, 'file', { followLink: true });
  assert.is(l.ok && l.st.size, 10);
  if (l.ok) await l.fh.close();
});

test('readBounded: never more than max + 1 bytes, from any position', async () => {
  const big = join(base, 'big.bin');
  writeFileSync(big, Buffer.alloc(1 << 20, 0x61));
  const r = await openNoFollow(big, 'file');
  assert.ok(r.ok);
  if (!r.ok) return;
  try {
    const over = await readBounded(r.fh, 64 * 1024);
    assert.is(over.over, true);
    assert.is(over.bytes.length, 64 * 1024 + 1);
    const tail = await readBounded(r.fh, 100, (1 << 20) - 100);
    assert.equal({ over: tail.over, length: tail.bytes.length }, { over: false, length: 100 });
  } finally {
    await r.fh.close();
  }
  const t = await openNoFollow(file, 'file');
  assert.ok(t.ok);
  if (!t.ok) return;
  try {
    assert.equal(await readBounded(t.fh, 10), { bytes: Buffer.from('0123456789'), over: false });
    assert.equal(await readBounded(t.fh, 9), { bytes: Buffer.from('0123456789'), over: true });
    assert.equal(await readBounded(t.fh, 3, 4), { bytes: Buffer.from('4567'), over: true });
    assert.equal(await readBounded(t.fh, 10, 7), { bytes: Buffer.from('789'), over: false });
  } finally {
    await t.fh.close();
  }
});

test('readChunks: one reused buffer, stops at the end or after max bytes, honours an abort', async () => {
  const path = join(base, 'chunks.bin');
  const content = Buffer.from(Array.from({ length: 10_000 }, (_, i) => i % 251));
  writeFileSync(path, content);
  const lengths = async (max: number): Promise<{ sizes: number[]; bytes: Buffer }> => {
    const r = await openNoFollow(path, 'file');
    if (!r.ok) throw new Error('not opened');
    const sizes: number[] = [];
    const parts: Buffer[] = [];
    try {
      for await (const chunk of readChunks(r.fh, { max, bufferSize: 4096 })) {
        sizes.push(chunk.length);
        parts.push(Buffer.from(chunk));
      }
    } finally {
      await r.fh.close();
    }
    return { sizes, bytes: Buffer.concat(parts) };
  };
  const all = await lengths(Infinity);
  assert.equal(all.sizes, [4096, 4096, 1808]);
  assert.ok(all.bytes.equals(content));
  const some = await lengths(5001);
  assert.equal(some.sizes, [4096, 905]);
  assert.ok(some.bytes.equals(content.subarray(0, 5001)));
  const r = await openNoFollow(path, 'file');
  if (!r.ok) throw new Error('not opened');
  try {
    const ac = new AbortController();
    ac.abort(new Error('stopped'));
    let err: unknown;
    try {
      for await (const _ of readChunks(r.fh, { max: Infinity, bufferSize: 4096, signal: ac.signal })) assert.unreachable('read after abort');
    } catch (e) {
      err = e;
    }
    assert.is((err as Error).message, 'stopped');
  } finally {
    await r.fh.close();
  }
});

test('descriptorPath: where the descriptor points now (renamed: the new name; deleted: the old one)', async () => {
  const path = join(base, 'moving.bin');
  writeFileSync(path, 'x');
  const r = await openNoFollow(path, 'file');
  if (!r.ok) throw new Error('not opened');
  try {
    assert.is(await descriptorPath(r.fh.fd), path);
    renameSync(path, join(dir, 'moved.bin'));
    assert.is(await descriptorPath(r.fh.fd), join(dir, 'moved.bin'));
    unlinkSync(join(dir, 'moved.bin'));
    assert.is(await descriptorPath(r.fh.fd), join(dir, 'moved.bin'));
    assert.is(ownDescriptorPath(r.fh.fd), `/proc/${process.pid}/fd/${r.fh.fd}`);
    assert.ok(isOwnDescriptor(ownDescriptorPath(r.fh.fd)));
  } finally {
    await r.fh.close();
  }
});

test.run();
