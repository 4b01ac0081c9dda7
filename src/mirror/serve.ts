/**
 * `mirror serve`: a small static HTTP server for the repository, loopback by
 * default. Which file a request may read is decided in serve-path.ts (real
 * path inside the root, no dot-directory, a regular file on the open
 * descriptor). The HTTP semantics (conditional requests, single byte ranges,
 * HEAD, 304/412/416) are `send`'s, with the validators of serve-http.ts.
 *
 * send opens files by path, and a path can be renamed over by a republish
 * between any two system calls. So send is handed /proc/self/fd/N of the
 * descriptor already opened and checked: its stat and its read both see that
 * one inode, and a response is one version of one file, never a mix.
 * Slow and stalled clients are cut off (serve-limits.ts).
 * For many hosts, nginx does the same job (README, "The mirror").
 */
import { promises as fsp } from 'node:fs';
import type { ReadStream } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import send from 'send';
import { OperationError } from '../errors.js';
import { SELF_FD_DIR } from '../proc.js';
import { openServable, type ServableFile } from './serve-path.js';
import { contentType, httpDate, ifRangeHolds, msUntilDateIsStrong, strongEtag } from './serve-http.js';
import { applyServeLimits, type ServeLimits } from './serve-limits.js';

export { contentType } from './serve-http.js';

/** Idle deadline and connection cap: serve-limits.ts. */
export interface ServeOptions extends ServeLimits {
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

const FD_DIR = SELF_FD_DIR;
/** A file republished again and again within each second is served without a date after this many waits. */
const DATE_WAITS = 2;

export async function serveMirror(root: string, opts: ServeOptions = {}): Promise<MirrorServer> {
  const realRoot = await fsp.realpath(root).catch((err: Error) => {
    throw new OperationError(`cannot serve ${root}: ${err.message}`, 'Publish the mirror first (nspawn-kit mirror publish), or check mirror.root.');
  });
  await fsp.access(FD_DIR).catch(() => {
    throw new OperationError(`${FD_DIR} is not available`, 'Mount /proc: mirror serve reads each file through its open descriptor.');
  });
  const server = createServer((req, res) => {
    res.on('finish', () => opts.log?.(`${req.method ?? '?'} ${req.url ?? ''} ${res.statusCode}`));
    handle(root, realRoot, req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    });
  });
  applyServeLimits(server, opts);
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

/**
 * The file for a request, and its Last-Modified date if that date is strong.
 * A file changed within the current second gets its date only once the second
 * is over, and only if it is still the file at that path: a client that later
 * sends the date back in If-Modified-Since can then never be told 304 for a
 * newer file written within the same second.
 */
async function openWithDate(root: string, realRoot: string, urlPath: string): Promise<{ file: ServableFile; lastModified?: string } | undefined> {
  for (let waits = 0; ; waits++) {
    const file = await openServable(root, realRoot, urlPath);
    if (!file) return undefined;
    const mtimeMs = Number(file.stat.mtimeNs / 1_000_000n);
    const wait = msUntilDateIsStrong(mtimeMs, Date.now());
    if (wait === 0) return { file, lastModified: httpDate(mtimeMs) };
    if (wait === undefined || waits === DATE_WAITS) return { file };
    await file.fh.close();
    await sleep(wait + 5);
  }
}

function notFound(req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(404, { 'Content-Type': 'text/plain' }).end(req.method === 'HEAD' ? undefined : 'not found\n');
}

async function handle(root: string, realRoot: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { Allow: 'GET, HEAD' }).end();
    return;
  }
  const urlPath = (req.url ?? '/').split('?')[0] ?? '/';
  const opened = await openWithDate(root, realRoot, urlPath);
  if (!opened) return notFound(req, res);
  const { file, lastModified } = opened;
  const etag = strongEtag(file.stat);
  res.setHeader('Content-Type', contentType(file.path));
  res.setHeader('ETag', etag);
  if (lastModified) res.setHeader('Last-Modified', lastModified);
  // If-Range is decided here (send would accept a weak tag or an older date):
  // either the range stands unconditionally, or the whole current file is sent.
  const ifRange = req.headers['if-range'];
  if (ifRange !== undefined && req.headers.range !== undefined) {
    if (typeof ifRange === 'string' && ifRangeHolds(ifRange, etag)) delete req.headers['if-range'];
    else delete req.headers.range;
  }

  // Our descriptor stays open until send's own stream of it is closed, so the
  // number N in /proc/self/fd/N cannot be reused for another file meanwhile.
  let stream: ReadStream | undefined;
  const release = () => void file.fh.close().catch(() => {});
  res.once('close', () => {
    if (!stream) release();
  });
  send(req, `/${file.fh.fd}`, { root: FD_DIR, etag: false, lastModified: false, index: false, dotfiles: 'allow' })
    .on('stream', (s: ReadStream) => {
      stream = s;
      s.once('close', release);
    })
    .on('error', (err: { status?: number; headers?: Record<string, string> }) => {
      if (res.headersSent) return void res.destroy();
      res.removeHeader('ETag');
      res.removeHeader('Last-Modified');
      res.writeHead(err.status ?? 500, { 'Content-Type': 'text/plain', ...err.headers }).end();
    })
    .pipe(res);
}
