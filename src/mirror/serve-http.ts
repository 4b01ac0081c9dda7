/**
 * The validators and types `mirror serve` answers with (RFC 9110), as pure
 * functions. The publisher replaces a file by renaming a new one into place,
 * so a new version is a new inode: the entity-tag (device, inode, size,
 * mtime in nanoseconds) is strong. A Last-Modified date has one-second
 * resolution, and two publishes can fall within one second: it is only a
 * strong validator once that second is over (RFC 9110 8.8.2.2), which is why
 * the server waits for it before sending a date (see serve.ts).
 */
import type { BigIntStats } from 'node:fs';
import { extname } from 'node:path';

const TEXT_NAMES = new Set(['Release', 'InRelease', 'Packages', 'Sources', 'Contents']);

export function contentType(path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1);
  if (TEXT_NAMES.has(base)) return 'text/plain; charset=utf-8';
  switch (extname(base)) {
    case '.deb':
    case '.udeb':
      return 'application/vnd.debian.binary-package';
    case '.gz':
      return 'application/gzip';
    case '.xz':
      return 'application/x-xz';
    case '.asc':
      return 'application/pgp-keys';
    case '.gpg':
      // Release.gpg is a detached signature; mirror.gpg is a binary keyring.
      return base === 'Release.gpg' ? 'application/pgp-signature' : 'application/pgp-keys';
    default:
      return 'application/octet-stream';
  }
}

/** A strong entity-tag for one version of a file. */
export function strongEtag(st: Pick<BigIntStats, 'dev' | 'ino' | 'size' | 'mtimeNs'>): string {
  return `"${[st.dev, st.ino, st.size, st.mtimeNs].map((n) => n.toString(16)).join('-')}"`;
}

/**
 * Milliseconds until a file's mtime second is over, i.e. until its
 * Last-Modified date is a strong validator: 0 when it already is, undefined
 * when the mtime is in the future (then no date is sent at all).
 */
export function msUntilDateIsStrong(mtimeMs: number, nowMs: number): number | undefined {
  const secondOver = (Math.floor(mtimeMs / 1000) + 1) * 1000;
  if (nowMs >= secondOver) return 0;
  return secondOver - nowMs > 1000 ? undefined : secondOver - nowMs;
}

/** The HTTP-date of a file's mtime (whole seconds). */
export function httpDate(mtimeMs: number): string {
  return new Date(Math.floor(mtimeMs / 1000) * 1000).toUTCString();
}

/**
 * RFC 9110 13.1.5: does an If-Range validator select the current version, so
 * that the requested range may be sent? Only the current strong entity-tag,
 * compared strongly, does. A weak tag never holds, and neither does a date:
 * apt sends the mtime of its partial file, which need not be a date this
 * server sent, and a date cannot tell apart two versions written within the
 * same second. When it does not hold, the whole current file is sent (200).
 */
export function ifRangeHolds(ifRange: string, etag: string): boolean {
  return ifRange.trim() === etag;
}
