/**
 * Exit hooks: the one registry of cleanup that must run when the process is
 * interrupted (SIGINT, SIGTERM, SIGHUP). Library code only registers and
 * unregisters hooks (a build dir registers its own removal while it is open);
 * it never installs a signal handler nor ends the process. Entry points (cli.ts
 * via program.ts, the zx task entry tasks/script.ts) call exitOnSignals(): for
 * as long as they run, SIGINT/SIGTERM/SIGHUP interrupt every hook, stop every
 * child process the command started with its whole tree (children.ts), run the
 * hooks' cleanups, stop whatever was started meanwhile, and exit with 128 + the
 * signal number. The handler is always installed, hook or not: SIGTERM from
 * systemd or `kill` reaches node alone, and Node's default (dying at once)
 * would leave every child running, re-parented to PID 1. A command that stops
 * itself gracefully on a signal (the daemon, `mirror serve`) claims the
 * signals (claimSignals) while it runs; the entry point then leaves them to it.
 */
import { closeChildren, stopChildren, whileExiting } from './children.js';
import { OperationError } from './errors.js';
import { logToStderr } from './escape.js';
import { writeEvent } from './progress.js';

export interface ExitHook {
  /** What the hook does, for the line printed on the signal ("removing unfinished builds"). */
  readonly what: string;
  /** Called for every hook first, synchronously (abort running work), before any cleanup starts. */
  interrupt?(reason: Error): void;
  /** The cleanup itself; its error is printed and the other hooks still run. */
  cleanup(): Promise<void>;
}

export class ExitHooks {
  readonly #hooks = new Set<ExitHook>();
  readonly #watchers = new Set<() => void>();

  /** Registers a hook; the returned function unregisters it (idempotent). */
  register(hook: ExitHook): () => void {
    this.#hooks.add(hook);
    this.#changed();
    return () => {
      if (this.#hooks.delete(hook)) this.#changed();
    };
  }

  get size(): number {
    return this.#hooks.size;
  }

  /** What the registered hooks do, each once, in registration order. */
  describe(): string {
    return [...new Set([...this.#hooks].map((h) => h.what))].join(', ');
  }

  /**
   * Interrupts every registered hook, awaits `between` (the entry point stops
   * the children there: a cleanup must not race a running tool), then runs
   * the cleanups in registration order.
   */
  async runAll(reason: Error, report: (line: string) => void, between?: () => Promise<void>): Promise<void> {
    const hooks = [...this.#hooks];
    for (const h of hooks) h.interrupt?.(reason);
    await between?.();
    for (const h of hooks) {
      try {
        await whileExiting(() => h.cleanup());
      } catch (err) {
        report(err instanceof Error ? err.message : String(err));
      }
    }
  }

  /** Called after every register/unregister. */
  watch(fn: () => void): () => void {
    this.#watchers.add(fn);
    return () => void this.#watchers.delete(fn);
  }

  #changed(): void {
    for (const fn of this.#watchers) fn();
  }
}

/** The process's registry: library code registers here; entry points decide what a signal does. */
export const exitHooks = new ExitHooks();

/** Exit codes of a process ended by a signal, as a shell reports them (128 + N). */
export const SIGNAL_EXIT_CODES = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 } as const;
export type ExitSignal = keyof typeof SIGNAL_EXIT_CODES;
const SIGNALS = Object.keys(SIGNAL_EXIT_CODES) as ExitSignal[];

let claims = 0;
let handling: ExitSignal | undefined;

/**
 * For a command that stops itself gracefully on SIGINT/SIGTERM (the daemon
 * finishes its run, `mirror serve` closes): while claimed, the entry point's
 * handler does nothing. Returns the release (idempotent).
 */
export function claimSignals(): () => void {
  claims++;
  let released = false;
  return () => {
    if (!released) claims--;
    released = true;
  };
}

/** The signal the entry point is handling (the process is about to exit), if any: its error lines are noise then. */
export function signalInProgress(): ExitSignal | undefined {
  return handling;
}

export interface ExitOnSignalsOptions {
  hooks?: ExitHooks;
  /** Where the notice and cleanup errors go, line by line (default: stderr, neutralized: escape.ts). */
  log?: (line: string) => void;
  /** How the process ends (default: process.exit). */
  exit?: (code: number) => void;
  /** Stops the command's children (default: children.ts stopChildren; tests pass their own). */
  stopChildren?: () => Promise<unknown>;
  /** --json: the notice and cleanup errors are {"event":"log"} lines, and the last line is the {"event":"error"} of the signal (progress.ts). */
  json?: boolean;
}

/**
 * For entry points only. SIGINT, SIGTERM and SIGHUP interrupt the hooks, stop
 * every child, run the cleanups and exit 130 / 143 / 129; returns a function
 * that removes the handlers (kept while a signal is being handled).
 */
export function exitOnSignals(opts: ExitOnSignalsOptions = {}): () => void {
  const hooks = opts.hooks ?? exitHooks;
  const log = opts.log ?? (opts.json ? (message: string) => writeEvent('log', { message }) : logToStderr);
  const exit = opts.exit ?? ((code: number) => process.exit(code));
  const stop = opts.stopChildren ?? (() => stopChildren());
  const close = opts.stopChildren ? () => undefined : closeChildren;
  const onSignal = (signal: ExitSignal): void => {
    if (claims > 0 || handling) return;
    handling = signal;
    const what = ['stopping child processes', ...(hooks.size ? [hooks.describe()] : [])].join(', ');
    if (!opts.json) log('');
    log(`nspawn-kit: ${signal}: ${what}`);
    const report = (line: string): void => log(`nspawn-kit: ${line}`);
    // From now on the interrupted work starts no new tool (children.ts); the hooks' cleanup still may.
    close();
    void hooks
      .runAll(new OperationError(`interrupted by ${signal}`), report, async () => void (await stop()))
      // A child started while the hooks ran (the interrupted work going on): stopped too.
      .then(async () => void (await stop()))
      .catch((err: unknown) => report(err instanceof Error ? err.message : String(err)))
      .finally(() => {
        if (opts.json) writeEvent('error', { error: `interrupted by ${signal}`, exitCode: SIGNAL_EXIT_CODES[signal] });
        exit(SIGNAL_EXIT_CODES[signal]);
        handling = undefined; // reached only when `exit` returns (tests)
      });
  };
  const handlers = SIGNALS.map((sig) => [sig, () => onSignal(sig)] as const);
  for (const [sig, fn] of handlers) process.on(sig, fn);
  return () => {
    if (handling) return;
    for (const [sig, fn] of handlers) process.off(sig, fn);
  };
}
