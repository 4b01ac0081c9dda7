/**
 * `nspawn-kit install-units`: a systemd service for the daemon where systemd
 * is PID 1 (its text: daemon-unit.ts); elsewhere the crontab line for the
 * nightly refresh and the command that starts the watcher, for the CLI to print. Files are written
 * and systemctl is run through the Shell, so --dry-run prints the plan.
 */
import { join } from 'node:path';
import cron from 'node-cron';
import type { Config } from '../config/types.js';
import { OperationError } from '../errors.js';
import { formatCommand, type Command, type Shell } from '../shell.js';
import { DAEMON_UNIT, renderDaemonUnit } from './daemon-unit.js';
import { checkSchedule } from './schedule.js';

// One systemd quoting for the whole program (quote.ts); re-exported for existing importers.
export { systemdWord } from '../quote.js';
export { DAEMON_UNIT } from './daemon-unit.js';
export const SYSTEM_UNIT_DIR = '/etc/systemd/system';

export interface UnitPaths {
  /** Absolute path of the node binary (process.execPath). */
  nodePath: string;
  /** Absolute path of the nspawn-kit CLI (dist/cli.js). */
  cliPath: string;
}

export interface RenderedUnit {
  name: string;
  text: string;
}

/** The CLI invocation, with --config when the configuration came from a file. */
function cliArgv(config: Pick<Config, 'file'>, paths: UnitPaths, verb: string[]): string[] {
  return [paths.nodePath, paths.cliPath, ...(config.file ? ['--config', config.file] : []), ...verb];
}

export function renderUnits(config: Config, paths: UnitPaths): RenderedUnit[] {
  for (const p of [paths.nodePath, paths.cliPath]) {
    if (!p.startsWith('/')) throw new OperationError(`not an absolute path: ${p}`, 'Pass absolute paths for node and the CLI (systemd requires them).');
  }
  return [{ name: DAEMON_UNIT, text: renderDaemonUnit(config, cliArgv(config, paths, ['daemon'])) }];
}

/** /etc/cron.d line for the nightly refresh (cron uses the host's time zone). */
export function crontabLine(config: Config, paths: UnitPaths): string {
  checkSchedule(config.schedule);
  let fields = config.schedule.refresh.trim().split(/\s+/);
  if (fields.length === 6) {
    // node-cron's optional seconds field: cron has no seconds, so it must be a single value.
    const seconds = cron.parse(config.schedule.refresh).second;
    if (seconds.length !== 1) {
      throw new OperationError(
        `schedule.refresh ${JSON.stringify(config.schedule.refresh)} runs several times a minute, which cron cannot express`,
        'Use a five-field expression for schedule.refresh, or run `nspawn-kit schedule` instead of cron.',
      );
    }
    fields = fields.slice(1);
  }
  const command = cliArgv(config, paths, ['mirror', 'refresh']).map(posixWord).join(' ');
  // Debian's cron has no CRON_TZ: say so rather than silently shift the time.
  const tz = config.schedule.timezone ? `# schedule.timezone is ${config.schedule.timezone}; cron uses the host's time zone, adjust the hour if they differ\n` : '';
  // % ends the command in a crontab line; escape it.
  return `${tz}${fields.join(' ')} root ${command.replace(/%/g, '\\%')}`;
}

/**
 * cron runs its jobs with PATH=/usr/bin:/bin, where debootstrap (/usr/sbin)
 * and other admin tools are not: the cron.d file sets Debian's root PATH.
 */
export const CRON_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The whole /etc/cron.d/nspawn-kit file: its PATH, then the nightly refresh line. */
export function cronFile(config: Config, paths: UnitPaths): string {
  return ['# nspawn-kit: the nightly mirror refresh (from `nspawn-kit install-units`)', 'SHELL=/bin/sh', `PATH=${CRON_PATH}`, crontabLine(config, paths), ''].join('\n');
}

/** How to start the watcher by hand (or from an init script) where systemd is not PID 1. */
export function watchCommand(config: Config, paths: UnitPaths): string {
  return cliArgv(config, paths, ['watch']).map(posixWord).join(' ');
}

/** Single-quoted for /bin/sh (dash has no $'...', which zx's quote produces). */
export function posixWord(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

export interface InstallUnitsOptions extends UnitPaths {
  config: Config;
  sh: Shell;
  /** Where unit files go (tests pass a temp dir). */
  unitDir?: string;
  /** Run systemctl daemon-reload and enable --now (default: when systemd is PID 1). */
  enable?: boolean;
}

export interface InstallUnitsResult {
  mode: 'systemd' | 'cron';
  /** Unit files written. */
  written: string[];
  /** systemctl commands run (or planned in dry-run). */
  commands: string[];
  /** Where systemd is not PID 1: the /etc/cron.d/nspawn-kit file (its PATH and the line) and the watcher command to print. */
  crontab?: string;
  watchCommand?: string;
}

export async function installUnits(opts: InstallUnitsOptions): Promise<InstallUnitsResult> {
  const { config, sh } = opts;
  checkSchedule(config.schedule);
  // Without systemd as PID 1 there is nothing to install units into (unless a directory is given).
  if (!config.host.systemdPid1 && opts.unitDir === undefined) {
    return { mode: 'cron', written: [], commands: [], crontab: cronFile(config, opts), watchCommand: watchCommand(config, opts) };
  }
  const dir = opts.unitDir ?? SYSTEM_UNIT_DIR;
  // The unit's ReadWritePaths= name these with "-" (a missing path is skipped, and then stays
  // read-only under ProtectSystem=strict): they must exist before the daemon first starts, or it
  // cannot create them and restarts forever.
  for (const path of [config.stateDir, config.mirror.root]) await sh.mkdir(path);
  await sh.mkdir(dir);
  const written: string[] = [];
  for (const unit of renderUnits(config, opts)) {
    const path = join(dir, unit.name);
    await sh.writeFile(path, unit.text, 0o644);
    written.push(path);
  }
  const commands: string[] = [];
  const enable = opts.enable ?? config.host.systemdPid1;
  if (enable) {
    const steps: Command[] = [
      ['systemctl', ['daemon-reload']],
      ['systemctl', ['enable', '--now', '--', DAEMON_UNIT]],
    ];
    for (const cmd of steps) {
      await sh.write(cmd, { hint: 'Check `systemctl status nspawn-kit-daemon` and `journalctl -u nspawn-kit-daemon`.' });
      commands.push(formatCommand(cmd));
    }
  }
  return { mode: 'systemd', written, commands };
}
