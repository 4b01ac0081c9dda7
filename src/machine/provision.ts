/**
 * `nspawn-kit provision NAME`: boot the machine once, wait (from the host
 * side) for the first-boot result marker, power the container off, report
 * the script's status and, on failure, the tail of its log.
 */
import { OperationError, tail } from '../errors.js';
import type { RunResult } from '../shell.js';
import { isRunning, machineLaunch, stopContainer, type MachineRef } from './boot.js';
import { provisionCommand } from './nspawn-argv.js';
import type { MachineContext } from './create.js';
import { existsInRoot, resolveInRoot } from './inject.js';
import { FIRSTBOOT, type FirstBootResult } from './paths.js';
import { readFirstBootResult } from './provenance.js';
import { openResolvedFile } from './record.js';

/** The first-boot log can be long (apt output): only its end is read. */
const LOG_TAIL_BYTES = 64 * 1024;

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

/** Calls `check` every pollMs until it gives a reason to stop; 'timeout' when timeoutMs pass first. */
export async function pollUntil<T extends string>(check: () => Promise<T | undefined>, timeoutMs: number, pollMs = 500): Promise<T | 'timeout'> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const reason = await check();
    if (reason !== undefined) return reason;
    await new Promise((r) => setTimeout(r, pollMs));
  }
  return 'timeout';
}

/**
 * Boots the machine with systemd-nspawn --boot in the background until a
 * condition holds, then stops it (SIGTERM to nspawn: an orderly halt), and
 * always stops it on timeout or error.
 */
export async function bootUntil(ctx: MachineContext, ref: MachineRef, opts: BootUntilOptions): Promise<BootUntilReport> {
  const { root, settings, handle } = await machineLaunch(ctx, ref);
  const { name } = handle;
  if (await isRunning(ctx.config, name)) throw new OperationError(`machine ${name} is already running`, 'Stop it first.');
  const consoleLines: string[] = [];
  let sawLine = false;
  let exited = false;
  const boot: Promise<RunResult> = ctx.sh
    .write(provisionCommand(ctx.config, root, name, settings), {
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
  let ended: BootUntilReport['ended'];
  try {
    ended = await pollUntil(
      async () => ((opts.done && (await opts.done())) ? 'done' : sawLine ? 'line' : exited ? 'exited' : undefined),
      opts.timeoutMs,
      opts.pollMs,
    );
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

/** The first-boot log's tail: its last 64 KiB only, read without following a link or blocking. */
async function firstBootLogTail(root: string, lines = 25): Promise<string> {
  const path = await resolveInRoot(root, FIRSTBOOT.log).catch(() => undefined);
  const log = path === undefined ? undefined : await openResolvedFile(path, { maxBytes: LOG_TAIL_BYTES, tail: true });
  return log?.ok ? tail(log.value.toString('utf8'), lines) : '';
}

export interface FirstBootPoller {
  /**
   * The first boot has finished when the marker is a valid result and the
   * script has removed itself: powering off between the two would make the
   * script's exit trap record a failure.
   */
  done: () => Promise<boolean>;
  /** Why the last look at the marker could not use it (a FIFO, a link, a bad value), if it could not. */
  problem: () => string | undefined;
}

/**
 * Looks at the marker from the host while the container runs. Root in the
 * container controls it: a marker that cannot be read is not "finished"; the
 * poll goes on until the timeout, which then names the problem.
 */
export function firstBootPoller(root: string): FirstBootPoller {
  let problem: string | undefined;
  return {
    done: async () => {
      try {
        const result = await readFirstBootResult(root);
        problem = undefined;
        return result !== undefined && !(await existsInRoot(root, FIRSTBOOT.script));
      } catch (err) {
        problem = err instanceof Error ? err.message : String(err);
        return false;
      }
    },
    problem: () => problem,
  };
}

/** The error of a first boot that ended (timeout, or the container exited) without a usable result. */
export function unfinishedFirstBoot(name: string, why: string, problem: string | undefined, logTail: string, consoleTail: string[]): OperationError {
  const marker = problem ? `\n  result marker: ${problem}` : '';
  return new OperationError(
    `first boot of ${name} ${why}; the container was stopped${marker}\n  first-boot log:\n${indentBlock(logTail || '(empty)')}\n  console:\n${indentBlock(consoleTail.join('\n'))}`,
    problem
      ? `Root in the machine replaced ${FIRSTBOOT.marker} by something nspawn-kit does not read; recreate the machine (\`nspawn-kit rm ${name}\`, then create it again).`
      : `Boot it by hand (\`nspawn-kit boot ${name}\`) and read ${FIRSTBOOT.log}, or raise the timeout.`,
  );
}

export async function provisionMachine(ctx: MachineContext, ref: MachineRef, opts: ProvisionOptions = {}): Promise<ProvisionReport> {
  const { root, handle } = await machineLaunch(ctx, ref);
  const { name } = handle;
  const before = await readFirstBootResult(root);
  if (before) return { name, result: before, booted: false, logTail: before.status === 'failure' ? await firstBootLogTail(root) : '' };
  if (!(await existsInRoot(root, FIRSTBOOT.script))) {
    throw new OperationError(`machine ${name} has neither a first-boot script nor a result`, 'It was not made by `nspawn-kit create`; recreate it.');
  }
  const timeoutMs = opts.timeoutMs ?? 15 * 60_000;
  const poller = firstBootPoller(root);
  const boot = await bootUntil(ctx, handle, {
    done: async () => {
      if (!(await poller.done())) return false;
      await new Promise((r) => setTimeout(r, 300));
      return true;
    },
    timeoutMs,
    onLine: opts.onLine,
  });
  if (ctx.sh.dryRun) return { name, result: { status: 'success', exitCode: 0, time: '' }, booted: false, logTail: '' };
  let result: FirstBootResult | undefined;
  let problem = poller.problem();
  try {
    result = await readFirstBootResult(root);
  } catch (err) {
    problem = err instanceof Error ? err.message : String(err);
  }
  const logTail = await firstBootLogTail(root);
  if (!result) {
    const why = boot.ended === 'timeout' ? `did not finish within ${Math.round(timeoutMs / 1000)} s` : `ended before the first boot finished (systemd-nspawn exit ${boot.exitCode})`;
    throw unfinishedFirstBoot(name, why, problem, logTail, boot.console.slice(-15));
  }
  return { name, result, booted: true, logTail: result.status === 'failure' ? logTail : '' };
}

function indentBlock(text: string): string {
  return text.replace(/^/gm, '    ');
}
