/**
 * `mirror serve`: a small static HTTP server for the repository (GET, HEAD,
 * single byte ranges), loopback by default. Files only from inside root:
 * no "..", no dot-files (the publisher's .staging), symlinks followed only
 * when they resolve inside root. For many hosts, nginx does the same job.
 */
import { promises as fsp } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, sep } from 'node:path';

export interface ServeOptions {
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** Called once per request (access log). */
  log?: (line: string) => void;
}

export interface MirrorServer {
  url: string;
  close(): Promise<void>;
}

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

/** Parses "bytes=a-b" / "bytes=a-" / "bytes=-n" for a file of `size`; 'invalid' for 416, undefined to ignore. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'invalid' | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) return undefined; // multi-range or other units: serve the whole file, as RFC 9110 allows
  const [a, b] = [m[1] ?? '', m[2] ?? ''];
  if (a === '' && b === '') return 'invalid';
  let start: number;
  let end: number;
  if (a === '') {
    const n = Number(b);
    if (n === 0) return 'invalid';
    start = Math.max(0, size - n);
    end = size - 1;
  } else {
    start = Number(a);
    end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  }
  return start >= size || start > end ? 'invalid' : { start, end };
}

/** The file a URL path names inside root, or undefined (then: 404). */
async function resolveInside(root: string, realRoot: string, urlPath: string): Promise<string | undefined> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return undefined;
  }
  const parts = decoded.split('/').filter((p) => p !== '');
  if (decoded.includes('\0') || decoded.includes('\\') || parts.some((p) => p.startsWith('.'))) return undefined;
  const candidate = join(root, ...parts);
  const real = await fsp.realpath(candidate).catch(() => undefined);
  if (!real || (real !== realRoot && !real.startsWith(realRoot + sep))) return undefined;
  return real;
}

export async function serveMirror(root: string, opts: ServeOptions = {}): Promise<MirrorServer> {
  const realRoot = await fsp.realpath(root);
  const server = createServer((req, res) => {
    handle(root, realRoot, req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    });
    res.on('finish', () => opts.log?.(`${req.method ?? '?'} ${req.url ?? ''} ${res.statusCode}`));
  });
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const hostPart = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${hostPart}:${addr.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(root: string, realRoot: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { Allow: 'GET, HEAD' }).end();
    return;
  }
  const urlPath = (req.url ?? '/').split('?')[0] ?? '/';
  const file = await resolveInside(root, realRoot, urlPath);
  // One open file for stat and body: a republish renaming files meanwhile cannot mix two versions.
  const fh = file ? await fsp.open(file, 'r').catch(() => undefined) : undefined;
  const st = fh ? await fh.stat() : undefined;
  if (!file || !fh || !st?.isFile()) {
    await fh?.close();
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end(req.method === 'HEAD' ? undefined : 'not found\n');
    return;
  }
  const headers: Record<string, string | number> = {
    'Content-Type': contentType(file),
    'Accept-Ranges': 'bytes',
    'Last-Modified': st.mtime.toUTCString(),
  };
  const range = parseRange(req.headers.range, st.size);
  if (range === 'invalid') {
    await fh.close();
    res.writeHead(416, { ...headers, 'Content-Range': `bytes */${st.size}` }).end();
    return;
  }
  const { start, end } = range ?? { start: 0, end: st.size - 1 };
  const status = range ? 206 : 200;
  if (range) headers['Content-Range'] = `bytes ${start}-${end}/${st.size}`;
  headers['Content-Length'] = st.size === 0 ? 0 : end - start + 1;
  res.writeHead(status, headers);
  if (req.method === 'HEAD' || st.size === 0) {
    await fh.close();
    res.end();
    return;
  }
  const stream = fh.createReadStream({ start, end }); // closes fh when done
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}
