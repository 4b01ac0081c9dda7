/**
 * The entry point every zx task script calls: parses the common flags, loads
 * the configuration, runs the stages as one listr2 graph, prints a summary,
 * and maps errors to exit codes exactly like the CLI (exitCodeFor). It is an
 * entry point: while it runs, SIGINT/SIGTERM/SIGHUP stop every child process
 * and run the exit hooks (an open build dir is removed), and end the process
 * with 130 / 143 / 129.
 */
import { UsageError, exitCodeFor, formatError } from '../errors.js';
import { logToStderr, writeLines } from '../escape.js';
import { exitOnSignals, signalInProgress } from '../exit-hooks.js';
import { loadConfig } from '../config/load.js';
import { resolveRecipe } from '../config/recipes.js';
import type { Config, Recipe } from '../config/types.js';
import { stopGpgAgent } from '../mirror/keys.js';
import type { AppContext } from '../context.js';
import { Shell } from '../shell.js';
import { sanitizeProcessPath } from '../host/tool-path.js';
import { formatTimings, runGraph, type StageCtx } from './runner.js';
import type { ListrTask, ListrDefaultRenderer, ListrSimpleRenderer } from 'listr2';

/** What zx's `argv` (minimist) gives a script. */
export type ScriptArgv = Record<string, unknown> & { _: unknown[] };

export interface ScriptFlags {
  config?: string;
  dryRun: boolean;
  verbose: boolean;
  recipe?: string;
  name?: string;
}

const KNOWN = new Set(['_', 'config', 'c', 'dry-run', 'dryRun', 'n', 'verbose', 'v', 'recipe', 'name', 'help', 'h']);

export function parseScriptArgv(argv: ScriptArgv, extra: string[] = []): ScriptFlags {
  const unknown = Object.keys(argv).filter((k) => !KNOWN.has(k) && !extra.includes(k));
  if (unknown.length) throw new UsageError(`unknown option(s): ${unknown.map((k) => `--${k}`).join(', ')}`, 'Known: --config FILE, --dry-run, --verbose, --recipe NAME, --name NAME.');
  const str = (k: string): string | undefined => {
    const v = argv[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || v === '') throw new UsageError(`--${k} needs a value`);
    return v;
  };
  return {
    config: str('config') ?? str('c'),
    dryRun: Boolean(argv['dry-run'] ?? argv.dryRun ?? argv.n),
    verbose: Boolean(argv.verbose ?? argv.v),
    recipe: str('recipe'),
    name: str('name'),
  };
}

export interface ScriptSpec<C extends StageCtx> {
  title: string;
  /** Recipe used when --recipe is not given (undefined: recipes are not used). */
  defaultRecipe?: string;
  extraFlags?: string[];
  usage: string;
  makeCtx: (app: AppContext, flags: ScriptFlags, recipe: Recipe | undefined) => C | Promise<C>;
  tasks: (flags: ScriptFlags) => ListrTask<C, ListrDefaultRenderer, ListrSimpleRenderer>[];
  /** Lines printed after a successful run. */
  summary?: (ctx: C) => string[];
}

export async function runScript<C extends StageCtx>(spec: ScriptSpec<C>, argv: ScriptArgv): Promise<number> {
  // No tool is ever looked up in the working directory (host/tool-path.ts).
  sanitizeProcessPath();
  const log = logToStderr;
  let loaded: Config | undefined;
  const stopSignals = exitOnSignals();
  try {
    if (argv.help || argv.h) {
      process.stdout.write(`${spec.usage}\n`);
      return 0;
    }
    const flags = parseScriptArgv(argv, spec.extraFlags);
    const config = await loadConfig({ configFile: flags.config });
    loaded = config;
    const recipeName = flags.recipe ?? spec.defaultRecipe;
    const recipe = recipeName ? resolveRecipe(config, recipeName) : undefined;
    const sh = new Shell({ dryRun: flags.dryRun, verbose: flags.verbose, log });
    const app: AppContext = { config, sh, opts: { config: flags.config, dryRun: flags.dryRun, verbose: flags.verbose }, log };
    const ctx = await spec.makeCtx(app, flags, recipe);
    await runGraph(ctx, spec.tasks(flags));
    const lines = [...(spec.summary?.(ctx) ?? []), 'time per stage:', ...formatTimings(ctx.timings)];
    if (flags.dryRun) lines.unshift(`dry run: ${sh.planned.length} command(s) printed above; nothing was changed`);
    writeLines(process.stdout, ['', ...lines]);
    return 0;
  } catch (err) {
    // Interrupted: the handler reports, stops every child and exits 128 + N.
    if (signalInProgress()) return exitCodeFor(err);
    process.stderr.write(`\n${spec.title}: ${formatError(err)}\n`);
    return exitCodeFor(err);
  } finally {
    stopSignals();
    // No gpg-agent left running under stateDir/gnupg after a script.
    if (loaded) await stopGpgAgent({ sh: new Shell(), config: loaded }).catch(() => undefined);
  }
}
