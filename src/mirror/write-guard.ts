/**
 * The one way into writing the mirror, for every writer (the mirror
 * commands, the task stages, refresh, the daemon's runs, the reindex hook):
 * a dry run writes nothing, so it takes no lock, needs no root and leaves the
 * gpg-agent alone; otherwise root is required, the one mirror lock is taken
 * (lock.ts; waiting is said once, naming the live holder), and a one-shot
 * writer stops the gpg-agent under stateDir/gnupg afterwards so none is left
 * behind. Re-entrant: a writer called under the guard (refresh inside a
 * daemon run) passes through it, and only the outermost guard stops the agent.
 */
import { requireRoot } from '../errors.js';
import { exitHooks } from '../exit-hooks.js';
import type { MirrorContext } from './context.js';
import { stopGpgAgent } from './keys.js';
import { mirrorLayout } from './layout.js';
import { holdsMirrorLock, withMirrorLock } from './lock.js';

export interface MirrorWriteOptions {
  /** Wait for another writer (default) or fail at once with MirrorBusyError (`--no-wait`). */
  wait?: boolean;
  /** What needs root, for the error (default "writing the mirror"). */
  purpose?: string;
  /** Called once when we have to wait, with the live holder's PID (default: a line on ctx.log). */
  onWait?: (holderPid: number | undefined) => void;
  /** Stop the gpg-agent afterwards (default true: one-shot writers). The daemon keeps its agent between runs. Only the outermost guard does. */
  stopAgent?: boolean;
}

export function waitingLine(pid: number | undefined): string {
  return `waiting for the mirror lock held by ${pid ? `pid ${pid}` : 'another process'}…`;
}

export async function withMirrorWrite<T>(ctx: MirrorContext, fn: () => Promise<T>, opts: MirrorWriteOptions = {}): Promise<T> {
  if (ctx.sh.dryRun) return fn();
  requireRoot(opts.purpose ?? 'writing the mirror');
  const lock = mirrorLayout(ctx.config).lock;
  // Under an outer guard (refresh inside a daemon run) the outer one owns the lock and the agent.
  if (holdsMirrorLock(lock)) return fn();
  // The agent (gpg started it; it left our process tree) is stopped on an interrupt too (exit-hooks.ts).
  const unregister = opts.stopAgent !== false ? exitHooks.register({ what: 'stopping the gpg-agent', cleanup: () => stopGpgAgent(ctx) }) : () => {};
  try {
    return await withMirrorLock(lock, fn, {
      wait: opts.wait ?? true,
      signal: ctx.signal,
      onWait: opts.onWait ?? ((pid) => ctx.log?.(waitingLine(pid))),
    });
  } finally {
    unregister();
    if (opts.stopAgent !== false) await stopGpgAgent(ctx).catch(() => undefined);
  }
}
