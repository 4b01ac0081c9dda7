/**
 * The entry point every zx task script calls: parses the common flags, loads
 * the configuration, runs the stages as one listr2 graph (drawn on stderr),
 * prints a summary on stdout (one JSON document under --json), and maps
 * errors to exit codes exactly like the CLI (exitCodeFor), printed as
 * "nspawn-kit: SCRIPT: …" (or the --json error event) on stderr. It is an
 * entry point: while it runs, SIGINT/SIGTERM/SIGHUP stop every child process
 * and run the exit hooks (an open build dir is removed), and end the process
 * with 130 / 143 / 129.
 */
import { UsageError, errorJson, exitCodeFor, formatError } from '../errors.js';
import { jsonText, writeLines } from '../escape.js';
import { outputSinks, writeEvent } from '../progress.js';
import { usageText, type UsageSpec } from './usage.js';
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
  json: boolean;
  recipe?: string;
  name?: string;
  /** Positional arguments (a hook's files). */
  args: string[];
}

const COMMON = ['_', 'config', 'c', 'dry-run', 'dryRun', 'n', 'verbose', 'v', 'json', 'help', 'h'];

/** The common flags plus `extra` (e.g. "recipe", "name", "codename", "warm"); anything else is a usage error (exit 2). */
export function parseScriptArgv(argv: ScriptArgv, extra: string[] = []): ScriptFlags {
  const unknown = Object.keys(argv).filter((k) => !COMMON.includes(k) && !extra.includes(k));
  const known = ['--config FILE', '--dry-run', '--verbose', '--json', ...extra.map((k) => (k === 'warm' ? '--no-warm' : `--${k} NAME`))].join(', ');
  if (unknown.length) throw new UsageError(`unknown option(s): ${unknown.map((k) => `--${k}`).join(', ')}`, `Known: ${known}; see --help.`);
  const str = (k: string): string | undefined => {
    const v = argv[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || v === '') throw new UsageError(`--${k} needs a value`);
    return v;
  };
  // minimist reads `--dry-run FILE` as --dry-run=FILE: a word after a switch is an argument, not its value.
  const args = argv._.map(String);
  const on = (...keys: string[]) =>
    keys.some((k) => {
      const v = argv[k];
      if (typeof v === 'string') args.push(v);
      return v !== undefined && v !== false;
    });
  return {
    config: str('config') ?? str('c'),
    dryRun: on('dry-run', 'dryRun', 'n'),
    verbose: on('verbose', 'v'),
    json: on('json'),
    recipe: extra.includes('recipe') ? str('recipe') : undefined,
    name: extra.includes('name') ? str('name') : undefined,
    args,
  };
}

export interface ScriptSpec<C extends StageCtx> {
  title: string;
  /** Recipe used when --recipe is not given (undefined: recipes are not used). */
  defaultRecipe?: string;
  /** Options beyond the common ones: "recipe", "name". */
  extraFlags?: string[];
  usage: UsageSpec;
  makeCtx: (app: AppContext, flags: ScriptFlags, recipe: Recipe | undefined) => C | Promise<C>;
  tasks: (flags: ScriptFlags) => ListrTask<C, ListrDefaultRenderer, ListrSimpleRenderer>[];
  /** Lines printed after a successful run. */
  summary?: (ctx: C) => string[];
  /** The result as data, for the --json document. */
  data?: (ctx: C) => Record<string, unknown>;
}

/** An error as the entry points print it: "nspawn-kit: SCRIPT: message", or the --json error event. */
export function reportScriptError(script: string, json: boolean, err: unknown): number {
  if (json) writeEvent('error', { script, ...errorJson(err) });
  else writeLines(process.stderr, `nspawn-kit: ${script}: ${formatError(err)}`.split('\n'));
  return exitCodeFor(err);
}

/** The one JSON document of --json on stdout. */
export function printJson(doc: unknown): void {
  writeLines(process.stdout, jsonText(doc, 2).split('\n'));
}

export async function runScript<C extends StageCtx>(spec: ScriptSpec<C>, argv: ScriptArgv): Promise<number> {
  // No tool is ever looked up in the working directory (host/tool-path.ts).
  sanitizeProcessPath();
  let loaded: Config | undefined;
  // `--json FILE` is --json and an argument (parseScriptArgv).
  const json = argv.json !== undefined && argv.json !== false;
  const stopSignals = exitOnSignals({ json });
  try {
    if (argv.help || argv.h) {
      writeLines(process.stdout, usageText(spec.usage).split('\n'));
      return 0;
    }
    const flags = parseScriptArgv(argv, spec.extraFlags);
    if (flags.args.length) throw new UsageError(`unexpected argument(s): ${flags.args.join(' ')}`, 'This script takes options only; see --help.');
    const config = await loadConfig({ configFile: flags.config });
    loaded = config;
    const recipeName = flags.recipe ?? spec.defaultRecipe;
    const recipe = recipeName ? resolveRecipe(config, recipeName) : undefined;
    // Status lines and progress: plain lines on stderr, or JSON event lines under --json (progress.ts).
    const { log, progress } = outputSinks({ json: flags.json });
    const sh = new Shell({ dryRun: flags.dryRun, verbose: flags.verbose, log, progress });
    const app: AppContext = { config, sh, opts: { config: flags.config, dryRun: flags.dryRun, verbose: flags.verbose, json: flags.json }, log };
    const ctx = await spec.makeCtx(app, flags, recipe);
    await runGraph(ctx, spec.tasks(flags));
    const summary = spec.summary?.(ctx) ?? [];
    if (flags.json) {
      const totalMs = ctx.timings.reduce((a, t) => a + t.ms, 0);
      printJson({ script: spec.title, dryRun: flags.dryRun, ...spec.data?.(ctx), summary, timings: ctx.timings, totalMs, ...(flags.dryRun ? { planned: sh.planned } : {}) });
      return 0;
    }
    const lines = [...summary, 'time per stage:', ...formatTimings(ctx.timings)];
    if (flags.dryRun) lines.unshift(`dry run: ${sh.planned.length} command(s) printed on stderr; nothing was changed`);
    writeLines(process.stdout, lines);
    return 0;
  } catch (err) {
    // Interrupted: the handler reports, stops every child and exits 128 + N.
    if (signalInProgress()) return exitCodeFor(err);
    return reportScriptError(spec.title, json, err);
  } finally {
    stopSignals();
    // No gpg-agent left running under stateDir/gnupg after a script.
    if (loaded) await stopGpgAgent({ sh: new Shell(), config: loaded }).catch(() => undefined);
  }
}
