/**
 * Exit hooks: the one registry of cleanup that must run when the process is
 * interrupted (SIGINT, SIGTERM). Library code only registers and unregisters
 * hooks (a build dir registers its own removal while it is open); it never
 * installs a signal handler nor ends the process. Entry points (cli.ts via
 * program.ts, the zx task entry tasks/script.ts) call exitOnSignals(): while
 * at least one hook is registered, SIGINT/SIGTERM run every hook and then
 * exit with 128 + the signal number. With no hook registered no handler is
 * installed, so Node's default signal behaviour (and any handler of the
 * daemon's own) is untouched.
 */
import { OperationError } from './errors.js';
import { logToStderr } from './escape.js';

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

  /** Interrupts every registered hook, then runs their cleanups in registration order. */
  async runAll(reason: Error, report: (line: string) => void): Promise<void> {
    const hooks = [...this.#hooks];
    for (const h of hooks) h.interrupt?.(reason);
    for (const h of hooks) {
      try {
        await h.cleanup();
      } catch (err) {
        report(err instanceof Error ? err.message : String(err));
      }
    }
  }

  /** Called after every register/unregister (for exitOnSignals). */
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

/** Exit codes of a process ended by a signal, as a shell reports them. */
export const SIGNAL_EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;
export type ExitSignal = keyof typeof SIGNAL_EXIT_CODES;

export interface ExitOnSignalsOptions {
  hooks?: ExitHooks;
  /** Where the notice and cleanup errors go, line by line (default: stderr, neutralized: escape.ts). */
  log?: (line: string) => void;
  /** How the process ends (default: process.exit). */
  exit?: (code: number) => void;
}

/**
 * For entry points only. While hooks are registered, SIGINT and SIGTERM run
 * them and exit 130 / 143; returns a function that removes the handlers.
 */
export function exitOnSignals(opts: ExitOnSignalsOptions = {}): () => void {
  const hooks = opts.hooks ?? exitHooks;
  const log = opts.log ?? logToStderr;
  const exit = opts.exit ?? ((code: number) => process.exit(code));
  let installed = false;
  let running = false;
  const onSignal = (signal: ExitSignal): void => {
    if (running) return;
    running = true;
    log('');
    log(`nspawn-kit: ${signal}: ${hooks.describe()}`);
    void hooks
      .runAll(new OperationError(`interrupted by ${signal}`), (line) => log(`nspawn-kit: ${line}`))
      .finally(() => exit(SIGNAL_EXIT_CODES[signal]));
  };
  const onSigint = (): void => onSignal('SIGINT');
  const onSigterm = (): void => onSignal('SIGTERM');
  const sync = (): void => {
    if (hooks.size > 0 && !installed) {
      process.on('SIGINT', onSigint);
      process.on('SIGTERM', onSigterm);
      installed = true;
    } else if (hooks.size === 0 && installed && !running) {
      process.off('SIGINT', onSigint);
      process.off('SIGTERM', onSigterm);
      installed = false;
    }
  };
  const unwatch = hooks.watch(sync);
  sync();
  return () => {
    unwatch();
    if (installed) {
      process.off('SIGINT', onSigint);
      process.off('SIGTERM', onSigterm);
      installed = false;
    }
  };
}
