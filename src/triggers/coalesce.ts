/**
 * "One run at a time, at most one follow-up." A trigger that arrives while a
 * run is in progress does not start a second run: its payload is merged into
 * the single pending follow-up, which starts when the current run ends. So 50
 * file events during a refresh cost exactly one more run, and that run sees
 * all 50 files.
 */

export interface CoalescerOptions<T> {
  /** Does the work. Never called concurrently with itself. */
  run: (payload: T, signal: AbortSignal) => Promise<void>;
  /** Combines a pending payload with a newly arrived one. */
  merge: (pending: T, next: T) => T;
  /** Observes each run's end (for logging); errors never stop the runner. */
  onRunEnd?: (info: { payload: T; error?: unknown; run: number }) => void;
  onRunStart?: (info: { payload: T; run: number }) => void;
}

export interface Coalescer<T> {
  /**
   * Asks for a run with this payload. Resolves when a run that includes the
   * payload has finished; rejects with that run's error.
   */
  trigger(payload: T): Promise<void>;
  /** Resolves when no run is in progress and none is pending. */
  idle(): Promise<void>;
  /** Stops accepting triggers, drops the pending follow-up, waits for the current run. */
  close(opts?: { abort?: boolean }): Promise<void>;
  readonly running: boolean;
  readonly pending: boolean;
  /** Number of runs started so far. */
  readonly runs: number;
}

interface Waiter {
  resolve: () => void;
  reject: (err: unknown) => void;
}

export function createCoalescer<T>(opts: CoalescerOptions<T>): Coalescer<T> {
  let current: Promise<void> | undefined;
  let next: { payload: T; waiters: Waiter[] } | undefined;
  let closed = false;
  let runs = 0;
  let controller = new AbortController();
  const idleWaiters: (() => void)[] = [];

  const settleIdle = () => {
    if (current || next) return;
    for (const w of idleWaiters.splice(0)) w();
  };

  const start = () => {
    const batch = next;
    if (!batch || current || closed) return;
    next = undefined;
    runs += 1;
    const run = runs;
    controller = new AbortController();
    const signal = controller.signal;
    current = (async () => {
      // Yield first: `current` must be assigned before a synchronous throw reaches `finally`.
      await Promise.resolve();
      opts.onRunStart?.({ payload: batch.payload, run });
      try {
        await opts.run(batch.payload, signal);
        opts.onRunEnd?.({ payload: batch.payload, run });
        for (const w of batch.waiters) w.resolve();
      } catch (error) {
        opts.onRunEnd?.({ payload: batch.payload, error, run });
        for (const w of batch.waiters) w.reject(error);
      } finally {
        current = undefined;
        // The follow-up starts on a fresh tick so the previous run's waiters see its end first.
        queueMicrotask(() => {
          start();
          settleIdle();
        });
      }
    })();
  };

  return {
    trigger(payload: T): Promise<void> {
      if (closed) return Promise.reject(new Error('the trigger runner is shutting down'));
      return new Promise<void>((resolve, reject) => {
        if (next) {
          next.payload = opts.merge(next.payload, payload);
          next.waiters.push({ resolve, reject });
        } else {
          next = { payload, waiters: [{ resolve, reject }] };
        }
        start();
      });
    },
    idle(): Promise<void> {
      if (!current && !next) return Promise.resolve();
      return new Promise((resolve) => idleWaiters.push(resolve));
    },
    async close({ abort = false } = {}): Promise<void> {
      closed = true;
      const dropped = next;
      next = undefined;
      for (const w of dropped?.waiters ?? []) w.reject(new Error('the trigger runner shut down before this run started'));
      if (abort) controller.abort(new Error('shutting down'));
      // A run's failure was already reported to its waiters and onRunEnd.
      await current?.catch(() => undefined);
      settleIdle();
    },
    get running() {
      return current !== undefined;
    },
    get pending() {
      return next !== undefined;
    },
    get runs() {
      return runs;
    },
  };
}
