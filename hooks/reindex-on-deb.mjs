#!/usr/bin/env node
// Reindex once: import the given .debs (or directories of them; default: every
// configured archive and every machine archive) and publish the suites that
// changed, under the one mirror lock. For apt hooks, incron, or by hand:
//   npx zx hooks/reindex-on-deb.mjs [--config FILE] [--codename NAME] [--dry-run] [--verbose] [FILE|DIR...]
import { argv } from 'zx';
import { loadConfig } from '../dist/config/load.js';
import { logToStderr, writeLines } from '../dist/escape.js';
import { exitCodeFor, formatError, UsageError } from '../dist/errors.js';
import { summarizeImport } from '../dist/mirror/import.js';
import { Shell } from '../dist/shell.js';
import { sanitizeProcessPath } from '../dist/host/tool-path.js';
import { stopGpgAgent } from '../dist/mirror/keys.js';
import { exitOnSignals } from '../dist/exit-hooks.js';
import { parseScriptArgv } from '../dist/tasks/script.js';
import { reindex } from '../dist/triggers/daemon.js';

// No tool is ever looked up in the working directory (dist/host/tool-path.js).
sanitizeProcessPath();
// An entry point: SIGINT/SIGTERM/SIGHUP stop every child process, run the exit hooks, exit 128 + N (dist/exit-hooks.js).
const stopSignals = exitOnSignals();

// Lines name files from archives and machines: neutralized (src/escape.ts).
const log = logToStderr;
let config;
try {
  if (argv.help || argv.h) {
    process.stdout.write('usage: npx zx hooks/reindex-on-deb.mjs [--config FILE] [--codename NAME] [--dry-run] [--verbose] [FILE|DIR...]\n');
    process.exit(0);
  }
  const flags = parseScriptArgv(argv, ['codename']);
  if (argv.codename !== undefined && typeof argv.codename !== 'string') throw new UsageError('--codename needs a value');
  config = await loadConfig({ configFile: flags.config });
  const sh = new Shell({ dryRun: flags.dryRun, verbose: flags.verbose, log });
  const result = await reindex({ sh, config, log }, argv._.map(String), argv.codename);
  const published = result.publish?.suites.map((s) => `${s.codename} (${s.packages} packages)`).join(', ');
  writeLines(process.stdout, `${summarizeImport(result.import)}; ${published ? `published ${published}` : 'nothing to publish'}`);
} catch (err) {
  process.stderr.write(`reindex-on-deb: ${formatError(err)}\n`);
  process.exitCode = exitCodeFor(err);
} finally {
  stopSignals();
  // A one-shot hook leaves no gpg-agent running under stateDir/gnupg.
  if (config) await stopGpgAgent({ sh: new Shell(), config }).catch(() => {});
}
