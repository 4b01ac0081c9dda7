/**
 * `nspawn-kit provision NAME`: boot the machine once, wait (from the host
 * side) for the first-boot result marker, power the container off, report
 * the script's status and, on failure, the tail of its log.
 */
import { OperationError, tail } from '../errors.js';
import type { RunResult } from '../shell.js';
import { bootCommand, existingMachineRoot, isRunning, machineLaunch, stopContainer } from './boot.js';
import type { MachineContext } from './create.js';
import { existsInRoot, readInRoot } from './inject.js';
import { FIRSTBOOT, type FirstBootResult } from './paths.js';
import { readFirstBootResult } from './provenance.js';

export interface BootUntilOptions {
  /** Polled from the host every pollMs; the boot ends when it returns true. */
  done?: () => Promise<boolean>;
  /** A console line that ends the boot (e.g. "Reached target ... Multi-User System"). */
  untilLine?: RegExp;
  timeoutMs: number;
  pollMs?: number;
  onLine?: (line: string) => void;
}

export interface BootUntilReport {
  /** Why the boot ended. */
  ended: 'done' | 'line' | 'exited' | 'timeout';
  /** Console output of the container (the last 200 lines). */
  console: string[];
  /** systemd-nspawn's exit code after the poweroff. */
  exitCode: number | null;
}

/**
 * Boots the machine with systemd-nspawn --boot in the background until a
 * condition holds, then stops it (SIGTERM to nspawn: an orderly halt), and
 * always stops it on timeout or error.
 */
export async function bootUntil(ctx: MachineContext, name: string, opts: BootUntilOptions): Promise<BootUntilReport> {
  const { root, settings, lower } = await machineLaunch(ctx.config, name);
  if (await isRunning(ctx.config, name)) throw new OperationError(`machine ${name} is already running`, 'Stop it first.');
  const consoleLines: string[] = [];
  let sawLine = false;
  let exited = false;
  const boot: Promise<RunResult> = ctx.sh
    .write(bootCommand(ctx.config, root, name, ['--console=read-only'], settings, lower), {
      nothrow: true,
      onLine: (raw) => {
        // The console carries colour escapes; the log and matching do not need them.
        const line = raw.replace(/\x1b\[[0-9;]*m/g, '');
        consoleLines.push(line);
        if (consoleLines.length > 200) consoleLines.shift();
        opts.onLine?.(line);
        if (opts.untilLine?.test(line)) sawLine = true;
      },
    })
    .finally(() => {
      exited = true;
    });
  if (ctx.sh.dryRun) {
    const res = await boot;
    return { ended: 'exited', console: [], exitCode: res.exitCode };
  }
  let ended: BootUntilReport['ended'] = 'timeout';
  const deadline = Date.now() + opts.timeoutMs;
  try {
    while (Date.now() < deadline) {
      if (opts.done && (await opts.done())) {
        ended = 'done';
        break;
      }
      if (sawLine) {
        ended = 'line';
        break;
      }
      if (exited) {
        ended = 'exited';
        break;
      }
      await new Promise((r) => setTimeout(r, opts.pollMs ?? 500));
    }
  } finally {
    if (!exited) await stopContainer(ctx.sh, root);
  }
  const res = await boot;
  return { ended, console: consoleLines, exitCode: res.exitCode };
}

export interface ProvisionOptions {
  /** Default 15 minutes: first boot runs apt-get upgrade and the recipe's steps. */
  timeoutMs?: number;
  onLine?: (line: string) => void;
}

export interface ProvisionReport {
  name: string;
  result: FirstBootResult;
  /** false when the marker was already there and the machine was not booted. */
  booted: boolean;
  /** Tail of FIRSTBOOT.log (always filled on failure). */
  logTail: string;
}

async function firstBootLogTail(root: string, lines = 25): Promise<string> {
  const log = await readInRoot(root, FIRSTBOOT.log).catch(() => undefined);
  return log ? tail(log.toString('utf8'), lines) : '';
}

/**
 * The first boot has finished when the marker exists and the script has
 * removed itself: powering off between the two would make the script's exit
 * trap record a failure.
 */
async function firstBootFinished(root: string): Promise<boolean> {
  return (await existsInRoot(root, FIRSTBOOT.marker)) && !(await existsInRoot(root, FIRSTBOOT.script));
}

export async function provisionMachine(ctx: MachineContext, name: string, opts: ProvisionOptions = {}): Promise<ProvisionReport> {
  const root = await existingMachineRoot(ctx.config, name);
  const before = await readFirstBootResult(root);
  if (before) return { name, result: before, booted: false, logTail: before.status === 'failure' ? await firstBootLogTail(root) : '' };
  if (!(await existsInRoot(root, FIRSTBOOT.script))) {
    throw new OperationError(`machine ${name} has neither a first-boot script nor a result`, 'It was not made by `nspawn-kit create`; recreate it.');
  }
  const timeoutMs = opts.timeoutMs ?? 15 * 60_000;
  const boot = await bootUntil(ctx, name, {
    done: async () => {
      if (!(await firstBootFinished(root))) return false;
      await new Promise((r) => setTimeout(r, 300));
      return true;
    },
    timeoutMs,
    onLine: opts.onLine,
  });
  if (ctx.sh.dryRun) return { name, result: { status: 'success', exitCode: 0, time: '' }, booted: false, logTail: '' };
  const result = await readFirstBootResult(root);
  const logTail = await firstBootLogTail(root);
  if (!result) {
    const why = boot.ended === 'timeout' ? `did not finish within ${Math.round(timeoutMs / 1000)} s` : `ended before the first boot finished (systemd-nspawn exit ${boot.exitCode})`;
    throw new OperationError(
      `first boot of ${name} ${why}; the container was stopped\n  first-boot log:\n${indentBlock(logTail || '(empty)')}\n  console:\n${indentBlock(boot.console.slice(-15).join('\n'))}`,
      `Boot it by hand (\`nspawn-kit boot ${name}\`) and read ${FIRSTBOOT.log}, or raise the timeout.`,
    );
  }
  return { name, result, booted: true, logTail: result.status === 'failure' ? logTail : '' };
}

function indentBlock(text: string): string {
  return text.replace(/^/gm, '    ');
}
