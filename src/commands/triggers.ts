/** `daemon`, `watch`, `schedule`, `install-units`: the mirror keeps itself current. */
import { existsSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ProgramCommand } from './action.js';
import { createContext, type AppContext, type GlobalOptions } from '../context.js';
import { OperationError, requireRoot } from '../errors.js';
import { jsonText, writeLines } from '../escape.js';
import { refreshMirror } from '../mirror/refresh.js';
import { archiveOwner } from '../triggers/archive-owner.js';
import { eventLineSink, importAndPublish, runDaemon } from '../triggers/daemon.js';
import { checkSchedule } from '../triggers/schedule.js';
import { safe } from '../escape.js';
import { installUnits } from '../triggers/units.js';

async function daemon(app: AppContext, parts: { watch: boolean; schedule: boolean }): Promise<void> {
  if (!app.sh.dryRun) requireRoot('the daemon (it writes the mirror)');
  checkSchedule(app.config.schedule);
  const mctx = (signal: AbortSignal) => ({ sh: app.sh, config: app.config, log: app.log, signal });
  await runDaemon({
    config: app.config,
    sh: app.sh,
    // One event per line, neutralized: file names from archives and machines are in them (escape.ts); JSON lines on stdout under --json.
    log: eventLineSink(app.opts.json, app.log),
    json: app.opts.json,
    watch: parts.watch,
    schedule: parts.schedule,
    refresh: (signal) => refreshMirror(mctx(signal), archiveOwner),
    importAndPublish: (files, signal) => importAndPublish(mctx(signal), files),
  });
}

export function registerTriggers(program: ProgramCommand, globals: () => GlobalOptions): void {
  program
    .command('daemon')
    .description('watch the apt archives (and the machines\' caches) and run the nightly refresh, in one process')
    .action(async () => daemon(await createContext(globals()), { watch: true, schedule: true }));

  program
    .command('watch')
    .description('import and publish new .debs as they land in mirror.archives and the machines\' apt caches')
    .action(async () => daemon(await createContext(globals()), { watch: true, schedule: false }));

  program
    .command('schedule')
    .description('run `mirror refresh` at schedule.refresh (and at start when a run was missed)')
    .action(async () => daemon(await createContext(globals()), { watch: false, schedule: true }));

  program
    .command('install-units')
    .description('install nspawn-kit-daemon.service (systemd hosts), else print the crontab line and the watcher command')
    .option('--unit-dir <dir>', 'where to write the unit (default: machines.unitDir)')
    .option('--no-enable', 'write the unit but do not enable or start it')
    .action(async (o: { unitDir?: string; enable: boolean }) => {
      const app = await createContext(globals());
      // The unit runs the built bin; a checkout run through tsx has none to point it at.
      const built = fileURLToPath(new URL('../cli.js', import.meta.url));
      if (!existsSync(built)) throw new OperationError(safe`install-units needs the built CLI: ${built} does not exist`, 'Run `npm run build` first, or use the installed nspawn-kit.');
      const cliPath = realpathSync(built);
      const unitDir = o.unitDir ?? (app.config.host.systemdPid1 ? app.config.machines.unitDir : undefined);
      if (unitDir && !app.sh.dryRun) requireRoot('install-units');
      const r = await installUnits({ config: app.config, sh: app.sh, nodePath: process.execPath, cliPath, unitDir, enable: o.enable });
      if (app.opts.json) {
        process.stdout.write(`${jsonText(r, 2)}\n`);
        return;
      }
      const lines = r.written.map((f) => `wrote ${f}`);
      lines.push(...r.commands.map((c) => `ran: ${c}`));
      if (r.mode === 'cron') {
        lines.push('systemd is not PID 1 here: no unit was installed. Instead:');
        if (r.crontab) lines.push('  put these lines into /etc/cron.d/nspawn-kit (nightly refresh; cron\'s own PATH lacks /usr/sbin):', ...r.crontab.trimEnd().split('\n').map((l) => `    ${l}`));
        if (r.watchCommand) lines.push('  and start the watcher (e.g. from your init or a supervisor):', `    ${r.watchCommand}`);
      }
      writeLines(process.stdout, lines);
    });
}
