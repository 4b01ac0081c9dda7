/**
 * How long and how many: HTTP clients of `mirror serve` are untrusted, and
 * each response holds a socket, our checked descriptor and send's reopen of
 * it. A client that sends its request slowly is cut off by the request and
 * header deadlines; one that stops reading (its window full, nothing written
 * for idleTimeoutMs) has its socket destroyed, which ends send's stream and
 * closes both descriptors; at most maxConnections are open at once (more are
 * refused at accept).
 */
import type { Server } from 'node:http';

export interface ServeLimits {
  /** A connection with nothing read or written for this long is destroyed (default 60 s). */
  idleTimeoutMs?: number;
  /** Connections open at once; more are closed as they arrive (default 256). */
  maxConnections?: number;
}

export const SERVE_DEFAULTS = { idleTimeoutMs: 60_000, maxConnections: 256, headersTimeoutMs: 20_000, requestTimeoutMs: 30_000 } as const;

export function applyServeLimits(server: Server, limits: ServeLimits = {}): void {
  const idle = limits.idleTimeoutMs ?? SERVE_DEFAULTS.idleTimeoutMs;
  // The whole request (a GET has no body) and its headers must arrive in time.
  server.requestTimeout = SERVE_DEFAULTS.requestTimeoutMs;
  server.headersTimeout = Math.min(SERVE_DEFAULTS.headersTimeoutMs, SERVE_DEFAULTS.requestTimeoutMs);
  // Node checks those deadlines every connectionsCheckingInterval (30 s); keep-alive idles out sooner.
  server.keepAliveTimeout = Math.min(5_000, idle);
  server.maxConnections = limits.maxConnections ?? SERVE_DEFAULTS.maxConnections;
  // A stalled response: no write completes, the socket times out; destroying it
  // closes the response, send then destroys its stream and our descriptor is released.
  server.setTimeout(idle, (socket) => socket.destroy());
}
