/**
 * listr2 plumbing shared by every task graph: a stage helper that gives each
 * task its own Shell logging (and reporting progress) into task.output and
 * records its duration, and a runner that draws on stderr only, falls back to
 * line output on a non-TTY, in --verbose and in --dry-run (so every planned
 * command is printed, not just the last one), and is silent under --json,
 * where the stages report as event lines (listr-output.ts).
 */
import { Listr, type ListrTask, type ListrTaskWrapper, type ListrDefaultRenderer, type ListrSimpleRenderer } from 'listr2';
import type { AppContext } from '../context.js';
import { renderMessage } from '../errors.js';
import { neutralizeLine } from '../escape.js';
import type { Shell } from '../shell.js';
import { lineMode, stageEvent, stageSinks, stderrLogger } from './listr-output.js';

export { lineMode } from './listr-output.js';

export interface StageCtx {
  app: AppContext;
  /** Duration of every stage that ran, in order. */
  timings: { stage: string; ms: number }[];
}

export type StageTask<C extends StageCtx> = ListrTaskWrapper<C, ListrDefaultRenderer, ListrSimpleRenderer>;

export interface StageOptions<C extends StageCtx> {
  enabled?: boolean | ((ctx: C) => boolean);
  /** Return a reason string to skip (shown to the user). */
  skip?: (ctx: C) => string | false | Promise<string | false>;
}

/**
 * One stage: `fn` gets the context, the listr2 task and a Shell whose log lines
 * land in this task's output. A string returned by `fn` is appended to the title.
 */
export function stage<C extends StageCtx>(
  title: string,
  fn: (ctx: C, task: StageTask<C>, sh: Shell) => Promise<string | void>,
  opts: StageOptions<C> = {},
): ListrTask<C, ListrDefaultRenderer, ListrSimpleRenderer> {
  return {
    title,
    enabled: opts.enabled,
    skip: opts.skip,
    rendererOptions: { persistentOutput: false, bottomBar: 3 },
    task: async (ctx, listrTask) => {
      const started = Date.now();
      const task = safeOutput(listrTask);
      const sinks = stageSinks(ctx.app, title, (line) => {
        task.output = line;
      });
      const sh = ctx.app.sh.withLog(sinks.log, sinks.progress);
      stageEvent(ctx.app, title, 'started');
      let state: 'completed' | 'failed' = 'failed';
      let note: string | void = undefined;
      try {
        note = await fn(ctx, task, sh);
        if (note) task.title = `${title}: ${note}`;
        state = 'completed';
      } catch (err) {
        // listr2 prints the message itself before the CLI does: no control character of a file name or tool in it.
        if (err instanceof Error) err.message = renderMessage(err.message);
        throw err;
      } finally {
        const ms = Date.now() - started;
        ctx.timings.push({ stage: title, ms });
        stageEvent(ctx.app, title, state, { ms, ...(note ? { note } : {}) });
      }
    },
  };
}

/**
 * The task as the stage sees it: whatever it sets as output or title is
 * neutralized first (output lines name files and carry tools' output), so no
 * stage can forget it. listr2's wrapper keeps no private state, so a Proxy is
 * transparent to it.
 */
function safeOutput<T extends object>(task: T): T {
  return new Proxy(task, {
    set: (target, key, value: unknown) =>
      Reflect.set(target, key, (key === 'output' || key === 'title') && typeof value === 'string' ? neutralizeLine(value) : value),
  });
}

/** Under --json, a skipped stage says so (listr2, silent there, would not). */
function reportSkip<C extends StageCtx>(app: AppContext, t: ListrTask<C, ListrDefaultRenderer, ListrSimpleRenderer>): ListrTask<C, ListrDefaultRenderer, ListrSimpleRenderer> {
  const skip = t.skip;
  if (!app.opts.json || skip === undefined) return t;
  return {
    ...t,
    skip: async (ctx: C) => {
      const reason = typeof skip === 'function' ? await skip(ctx) : skip;
      if (reason) stageEvent(app, String(t.title ?? ''), 'skipped', typeof reason === 'string' ? { reason } : {});
      return reason;
    },
  };
}

export async function runGraph<C extends StageCtx>(ctx: C, tasks: ListrTask<C, ListrDefaultRenderer, ListrSimpleRenderer>[]): Promise<C> {
  const list = new Listr<C, 'default', 'simple'>(
    tasks.map((t) => reportSkip(ctx.app, t)),
    {
      ctx,
      concurrent: false,
      exitOnError: true,
      // The entry point (program.ts, script.ts) handles SIGINT/SIGTERM: it runs the exit hooks (exit-hooks.ts).
      registerSignalListeners: false,
      // stdout is the command's data: every renderer writes to stderr (listr-output.ts).
      renderer: 'default',
      rendererOptions: { collapseSubtasks: false, showErrorMessage: true, logger: stderrLogger(false) },
      fallbackRenderer: 'simple',
      fallbackRendererOptions: { timestamp: undefined, logger: stderrLogger(true) },
      fallbackRendererCondition: lineMode(ctx.app),
      // --json: the stages' own event lines instead (stage(), reportSkip).
      silentRendererCondition: Boolean(ctx.app.opts.json),
    },
  );
  await list.run();
  return ctx;
}

export function formatTimings(timings: StageCtx['timings']): string[] {
  const total = timings.reduce((a, t) => a + t.ms, 0);
  const width = Math.max(5, ...timings.map((t) => t.stage.length));
  return [...timings.map((t) => `  ${t.stage.padEnd(width)} ${(t.ms / 1000).toFixed(1).padStart(7)} s`), `  ${'total'.padEnd(width)} ${(total / 1000).toFixed(1).padStart(7)} s`];
}
