/**
 * The one lock every writer of the mirror takes (CLI, watcher, scheduler,
 * hooks): an flock(2) on `layout.lock`, held by a util-linux `flock(1)` child.
 *
 * Why a kernel lock held by a child, rather than an O_EXCL file with a PID:
 * - The kernel drops an flock when the last descriptor closes, so a holder
 *   that dies (even by SIGKILL) never leaves a lock that blocks the next one;
 *   no PID reuse, no start-time comparison, no "stale?" race between two
 *   acquirers that both try to remove the same file.
 * - Node has no flock(2). The child `flock -- LOCK sh -c 'read _'` keeps the
 *   lock while its stdin (a pipe from us) is open. When we exit for any reason,
 *   including SIGKILL, the kernel closes our end of the pipe, `read` sees EOF,
 *   the child exits and the lock is released.
 * - It interoperates with admins' scripts: `flock /var/lib/.../lock cmd`.
 * The holder is spawned here rather than through the Shell: it is a
 * long-lived child fed by a pipe, not a command that runs to completion, and
 * its argv is fixed (the lock path after `--`, no shell interpolation).
 *
 * The lock is re-entrant within one async call chain (AsyncLocalStorage), so
 * `mirror refresh` may call import and publish that each take it themselves.
 * Writers take it through write-guard.ts (root, dry run, gpg-agent), not directly.
 */
import { trackChild } from '../children.js';
import { AsyncLocalStorage } from 'node:async_hooks';
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { OperationError } from '../errors.js';
import { liveLockHolder } from './lock-holder.js';

export interface LockOptions {
  /** Wait for the holder to finish (true) or fail at once with MirrorBusyError (false). */
  wait: boolean;
  /** Called once when we have to wait, with the live holder's PID if it can be named (lock-holder.ts). */
  onWait?: (holderPid: number | undefined) => void;
  /** Give up waiting when aborted. */
  signal?: AbortSignal;
}

/** Another process holds the mirror lock and we were told not to wait. */
export class MirrorBusyError extends OperationError {
  constructor(
    readonly lockPath: string,
    readonly holderPid: number | undefined,
  ) {
    super(
      `the mirror is being written by another nspawn-kit process${holderPid ? ` (pid ${holderPid})` : ''}`,
      `Wait for it to finish, or run again without --no-wait to wait for it. The lock (${lockPath}) is a kernel lock: a killed holder releases it by itself, never delete the file.`,
    );
  }
}

type Holder = ChildProcessByStdio<Writable, Readable, Readable>;

/**
 * Locks held by the current async call chain, by path. A callback scheduled
 * while the lock was held (a timer, a follow-up run) inherits this store, so
 * each entry says whether it is still held rather than trusting its presence.
 */
interface Held {
  released: boolean;
}
const held = new AsyncLocalStorage<ReadonlyMap<string, Held>>();

/** Exit code we ask flock(1) to use for "would block", distinct from its errors (EX_TEMPFAIL). */
const FLOCK_CONFLICT = 75;
// The child prints this once it holds the lock, then waits for EOF on stdin.
// A fixed script: the lock path reaches flock as an argv element after `--`.
const HOLD_SCRIPT = 'echo locked; read _ || true';

/** True when the current async call chain holds the lock at lockPath (a re-entrant call takes nothing). */
export function holdsMirrorLock(lockPath: string): boolean {
  const current = held.getStore()?.get(resolve(lockPath));
  return current !== undefined && !current.released;
}

export async function withMirrorLock<T>(lockPath: string, fn: () => Promise<T>, opts: LockOptions): Promise<T> {
  const path = resolve(lockPath);
  const mine = held.getStore();
  const current = mine?.get(path);
  if (current && !current.released) return fn();
  const holder = await acquire(path, opts);
  const entry: Held = { released: false };
  try {
    return await held.run(new Map([...(mine ?? []), [path, entry]]), fn);
  } finally {
    entry.released = true;
    await release(holder);
  }
}

async function acquire(path: string, opts: LockOptions): Promise<Holder> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  const first = await tryHold(path, false, opts.signal);
  if (first.holder) return recordOwner(path, first.holder);
  if (!opts.wait) throw new MirrorBusyError(path, liveLockHolder(path));
  opts.onWait?.(liveLockHolder(path));
  const second = await tryHold(path, true, opts.signal);
  if (second.holder) return recordOwner(path, second.holder);
  throw new OperationError(`could not take the mirror lock ${path}: ${second.error}`, 'Check that util-linux flock is installed and the state directory is writable.');
}

function recordOwner(path: string, holder: Holder): Holder {
  // Informational: lets a MirrorBusyError name the holder (believed only
  // while the kernel says that PID holds the lock: lock-holder.ts). Written
  // after taking the lock, so it never races with another holder's write.
  try {
    writeFileSync(path, `${process.pid}\n`);
  } catch {
    /* the lock holds regardless */
  }
  return holder;
}

/** Starts the flock child; resolves once it holds the lock, or with why not. */
function tryHold(path: string, wait: boolean, signal?: AbortSignal): Promise<{ holder?: Holder; error?: string }> {
  return new Promise((done, fail) => {
    if (signal?.aborted) return fail(signal.reason ?? new Error('aborted'));
    const args = ['--exclusive', ...(wait ? [] : ['--nonblock']), '--conflict-exit-code', String(FLOCK_CONFLICT), '--', path, 'sh', '-c', HOLD_SCRIPT];
    // Registered (children.ts): an interrupt stops it like every other child; the lock goes with it.
    const child = trackChild(spawn('flock', args, { stdio: ['pipe', 'pipe', 'pipe'] }));
    let out = '';
    let err = '';
    let settled = false;
    const onAbort = () => {
      if (settled) return;
      settled = true;
      child.stdin.end();
      child.kill('SIGTERM');
      fail(signal?.reason ?? new Error('aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const finish = (result: { holder?: Holder; error?: string }) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      done(result);
    };
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('locked')) finish({ holder: child });
    });
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    // EPIPE when the holder died first: nothing to do, the lock is gone with it.
    child.stdin.on('error', () => undefined);
    child.on('error', (e) => finish({ error: e.message }));
    child.on('exit', (code) => {
      if (code === FLOCK_CONFLICT && !wait) finish({});
      else finish({ error: err.trim() || `flock exited with ${code}` });
    });
  });
}

function release(holder: Holder): Promise<void> {
  return new Promise((done) => {
    if (holder.exitCode !== null || holder.signalCode !== null) return done();
    holder.once('exit', () => done());
    // EOF on its stdin ends `read`, the child exits, the kernel drops the lock.
    holder.stdin.end();
  });
}
