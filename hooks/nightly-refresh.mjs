#!/usr/bin/env node
// One `mirror refresh` now (import every archive, warm, gc, publish and
// re-sign), under the one mirror lock: what the schedule runs nightly, alone.
// For cron or a systemd timer (--no-warm: import, gc, publish only; no downloads):
//   npx zx hooks/nightly-refresh.mjs [--config FILE] [--no-warm] [--dry-run] [--verbose]
import { argv } from 'zx';
import { loadConfig } from '../dist/config/load.js';
import { logToStderr, writeLines } from '../dist/escape.js';
import { exitCodeFor, formatError } from '../dist/errors.js';
import { refreshMirror } from '../dist/mirror/refresh.js';
import { archiveOwner } from '../dist/triggers/archive-owner.js';
import { Shell } from '../dist/shell.js';
import { sanitizeProcessPath } from '../dist/host/tool-path.js';
import { stopGpgAgent } from '../dist/mirror/keys.js';
import { exitOnSignals } from '../dist/exit-hooks.js';
import { parseScriptArgv } from '../dist/tasks/script.js';

// No tool is ever looked up in the working directory (dist/host/tool-path.js).
sanitizeProcessPath();
// An entry point: SIGINT/SIGTERM/SIGHUP stop every child process, run the exit hooks, exit 128 + N (dist/exit-hooks.js).
const stopSignals = exitOnSignals();

// Lines name files from archives and machines: neutralized (src/escape.ts).
const log = logToStderr;
let config;
try {
  if (argv.help || argv.h) {
    process.stdout.write('usage: npx zx hooks/nightly-refresh.mjs [--config FILE] [--no-warm] [--dry-run] [--verbose]\n');
    process.exit(0);
  }
  const flags = parseScriptArgv(argv, ['warm']);
  config = await loadConfig({ configFile: flags.config });
  const sh = new Shell({ dryRun: flags.dryRun, verbose: flags.verbose, log });
  const report = await refreshMirror({ sh, config, log }, archiveOwner, { warm: argv.warm !== false });
  writeLines(process.stdout, report.summary.split('\n'));
  if (report.problems.length) process.exitCode = 1;
} catch (err) {
  process.stderr.write(`nightly-refresh: ${formatError(err)}\n`);
  process.exitCode = exitCodeFor(err);
} finally {
  stopSignals();
  // A one-shot hook leaves no gpg-agent running under stateDir/gnupg.
  if (config) await stopGpgAgent({ sh: new Shell(), config }).catch(() => {});
}
