/**
 * The hooks (hooks/*.mjs) as entry points, like the task scripts
 * (script.ts): the common flags and --json, the summary on stdout (one JSON
 * document under --json), errors as "nspawn-kit: HOOK: …" (or the --json error
 * event) on stderr, and the CLI's exit-code rule: a rejected file or a
 * conflict (reindex-on-deb, like `mirror import`), a problem (nightly-refresh,
 * like `mirror refresh`) ends with 1.
 */
import type { Config } from '../config/types.js';
import { loadConfig } from '../config/load.js';
import { OperationError, UsageError, exitCodeFor } from '../errors.js';
import { exitOnSignals, signalInProgress } from '../exit-hooks.js';
import { safe, writeLines } from '../escape.js';
import { sanitizeProcessPath } from '../host/tool-path.js';
import { stopGpgAgent } from '../mirror/keys.js';
import { formatImportReport, summarizeImport } from '../mirror/import.js';
import type { MirrorContext } from '../mirror/context.js';
import { refreshMirror } from '../mirror/refresh.js';
import { CODENAME } from '../mirror/suites.js';
import { outputSinks } from '../progress.js';
import { Shell } from '../shell.js';
import { archiveOwner } from '../triggers/archive-owner.js';
import { reindex } from '../triggers/daemon.js';
import { parseScriptArgv, printJson, reportScriptError, type ScriptArgv, type ScriptFlags } from './script.js';
import { usageText, type UsageSpec } from './usage.js';

export interface HookResult {
  /** The --json document's fields. */
  data: Record<string, unknown>;
  /** The summary lines otherwise. */
  lines: string[];
  exitCode: 0 | 1;
  /** Why exit 1, printed as the error line (after the summary). */
  failure?: OperationError;
}

export interface HookSpec {
  title: string;
  usage: UsageSpec;
  extraFlags: string[];
  run: (ctx: MirrorContext, flags: ScriptFlags, argv: ScriptArgv) => Promise<HookResult>;
}

export async function runHook(spec: HookSpec, argv: ScriptArgv): Promise<number> {
  // No tool is ever looked up in the working directory (host/tool-path.ts).
  sanitizeProcessPath();
  // `--json FILE` is --json and an argument (parseScriptArgv).
  const json = argv.json !== undefined && argv.json !== false;
  // An entry point: SIGINT/SIGTERM/SIGHUP stop every child process, run the exit hooks, exit 128 + N (exit-hooks.ts).
  const stopSignals = exitOnSignals({ json });
  let config: Config | undefined;
  try {
    if (argv.help || argv.h) {
      writeLines(process.stdout, usageText(spec.usage).split('\n'));
      return 0;
    }
    const flags = parseScriptArgv(argv, spec.extraFlags);
    config = await loadConfig({ configFile: flags.config });
    // Lines name files from archives and machines: neutralized (escape.ts), or JSON event lines under --json.
    const { log, progress } = outputSinks({ json: flags.json });
    const sh = new Shell({ dryRun: flags.dryRun, verbose: flags.verbose, log, progress });
    const result = await spec.run({ sh, config, log }, flags, argv);
    if (flags.json) printJson({ hook: spec.title, dryRun: flags.dryRun, exitCode: result.exitCode, ...result.data });
    else writeLines(process.stdout, result.lines);
    if (result.failure) reportScriptError(spec.title, flags.json, result.failure);
    return result.exitCode;
  } catch (err) {
    // Interrupted: the handler reports, stops every child and exits 128 + N.
    if (signalInProgress()) return exitCodeFor(err);
    return reportScriptError(spec.title, json, err);
  } finally {
    stopSignals();
    // A one-shot hook leaves no gpg-agent running under stateDir/gnupg.
    if (config) await stopGpgAgent({ sh: new Shell(), config }).catch(() => undefined);
  }
}

export const reindexOnDeb: HookSpec = {
  title: 'reindex-on-deb',
  extraFlags: ['codename'],
  usage: {
    file: 'hooks/reindex-on-deb.mjs',
    args: '[FILE|DIR...]',
    about: [
      'Reindexes once: imports the given .debs (or the .debs directly in the given directories; default:',
      'every configured archive and every machine archive) and publishes the suites that changed, under',
      'the one mirror lock. For apt hooks, incron, or by hand. Put `--` before paths that start with "-".',
    ].join('\n'),
    options: [['--codename NAME', 'the suite the files go into (default: the archive they lie in, else the host\'s codename)']],
    failure: 'failed, or a file was rejected or conflicts with the pool (as `nspawn-kit mirror import`)',
  },
  run: async (ctx, flags, argv) => {
    const codename = argv.codename;
    if (codename !== undefined && (typeof codename !== 'string' || codename === '')) throw new UsageError('--codename needs a value');
    if (codename !== undefined && !CODENAME.test(String(codename))) throw new UsageError(safe`--codename: "${codename}" is not a codename like "bookworm"`);
    const result = await reindex(ctx, flags.args, codename as string | undefined);
    const suites = result.publish?.suites ?? [];
    const published = suites.map((s) => `${s.codename} (${s.packages} packages)`).join(', ');
    const quarantined = suites.reduce((n, s) => n + s.quarantined.length, 0);
    const { rejected, conflicts } = result.import;
    const bad = rejected.length + conflicts.length + quarantined;
    return {
      data: { import: result.import, publish: result.publish ?? null },
      lines: [
        `${summarizeImport(result.import)}; ${published ? `published ${published}` : 'nothing to publish'}`,
        // Each rejected file, conflict and warning with its reason, as `mirror import` prints them.
        ...formatImportReport(result.import).slice(1),
      ],
      exitCode: bad ? 1 : 0,
      failure: bad
        ? new OperationError(
            `${rejected.length} file(s) rejected, ${conflicts.length} conflict(s), ${quarantined} quarantined by publish (listed above); the rest is published`,
            'A rejected file is never indexed (its reason is above); replace or remove it. A conflict keeps the pool copy: rebuild the package with a new version.',
          )
        : undefined,
    };
  },
};

export const nightlyRefresh: HookSpec = {
  title: 'nightly-refresh',
  extraFlags: ['warm'],
  usage: {
    file: 'hooks/nightly-refresh.mjs',
    about: [
      'One `mirror refresh` now (import every archive, warm the recipes marked "refresh", gc, publish and',
      're-sign), under the one mirror lock: what the schedule runs nightly, alone. For cron or a systemd timer.',
    ].join('\n'),
    options: [['--no-warm', 'import, gc and publish only: no downloads (default: warm too)']],
    failure: 'failed, or the refresh reported problems (a rejected file, a failed warm: as `nspawn-kit mirror refresh`)',
  },
  run: async (ctx, _flags, argv) => {
    const report = await refreshMirror(ctx, archiveOwner, { warm: argv.warm !== false });
    const failure = report.problems.length ? new OperationError(`the refresh ended with ${report.problems.length} problem(s) (listed above); the rest is published`) : undefined;
    return { data: { ...report }, lines: report.summary.split('\n'), exitCode: failure ? 1 : 0, failure };
  },
};
