/**
 * `nspawn-kit boot` and `nspawn-kit run`, plus finding and stopping a running
 * container. Without systemd as PID 1 there is no machined: containers are
 * run with systemd-nspawn directly (--register=no --keep-unit) and found
 * again among the host's processes (proc.ts), by the --directory they were
 * started with.
 */
import { trackChild } from '../children.js';
import { spawn } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import { basename } from 'node:path';
import type { Config } from '../config/types.js';
import { OperationError } from '../errors.js';
import { parentPid, processes } from '../proc.js';
import { exists, formatCommand, type Command, type Shell } from '../shell.js';
import type { MachineContext } from './create.js';
import { bootCommand, runCommand, type SettingsUse } from './nspawn-argv.js';
import { existingMachine, machineRoot, type MachineHandle } from './handle.js';
import { ensureMounted } from './overlay-mount.js';

export { machineRoot } from './handle.js';
export { bootCommand, provisionCommand, runCommand, settingsArgs, type SettingsUse } from './nspawn-argv.js';

/** A machine by name (resolved here) or already resolved (a create's or a caller's handle). */
export type MachineRef = string | MachineHandle;

/**
 * A machine ready to run: resolved once, its overlay (if any) mounted on the
 * host, and whether its settings file is where systemd-nspawn looks.
 */
export async function machineLaunch(ctx: MachineContext, ref: MachineRef): Promise<{ root: string; settings: SettingsUse; handle: MachineHandle }> {
  const handle = typeof ref === 'string' ? await existingMachine(ctx.config, ref) : ref;
  await ensureMounted(ctx.sh, handle);
  return { root: handle.root, settings: await settingsUse(handle), handle };
}

/** The machine's root, which must exist (an overlay machine's, mounted). */
export async function existingMachineRoot(ctx: MachineContext, ref: MachineRef): Promise<string> {
  return (await machineLaunch(ctx, ref)).root;
}

/** Whether the machine's settings file is where systemd-nspawn will look for it. */
export async function settingsUse(handle: Pick<MachineHandle, 'settings'>): Promise<SettingsUse> {
  return (await exists(handle.settings.file)) ? 'file' : 'none';
}

/** True when the argv of a process is a systemd-nspawn on root. */
export function isNspawnOn(argv: readonly string[], root: string): boolean {
  if (argv.length === 0 || basename(argv[0] ?? '') !== 'systemd-nspawn') return false;
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--') break;
    if (a === `--directory=${root}` || a === `-D${root}`) return true;
    if ((a === '-D' || a === '--directory') && argv[i + 1] === root) return true;
  }
  return false;
}

/** PIDs of systemd-nspawn processes running on root (outermost first). */
export async function nspawnPids(root: string): Promise<number[]> {
  const found: Array<{ pid: number; ppid: number }> = [];
  for (const { pid, argv } of await processes()) {
    if (!isNspawnOn(argv, root)) continue;
    const ppid = parentPid(pid);
    if (ppid !== undefined) found.push({ pid, ppid }); // else gone while we looked
  }
  const pids = new Set(found.map((f) => f.pid));
  // nspawn forks; the outer process is the one to signal.
  return found.sort((a, b) => Number(pids.has(a.ppid)) - Number(pids.has(b.ppid)) || a.pid - b.pid).map((f) => f.pid);
}

export async function isRunning(config: Pick<Config, 'machines'>, name: string): Promise<boolean> {
  return (await nspawnPids(machineRoot(config, name))).length > 0;
}

/**
 * Orderly stop: SIGTERM to systemd-nspawn makes it send SIGRTMIN+3 to the
 * container's systemd (its default --kill-signal with --boot), which halts
 * the container; nspawn then exits 0 (a few seconds here). systemd as PID 1
 * ignores signals that arrive before it installed its handlers, so a stop
 * right after the start is lost: SIGTERM is repeated every few seconds.
 * After graceMs the processes are killed.
 */
export async function stopContainer(sh: Shell, root: string, graceMs = 60_000): Promise<boolean> {
  if ((await nspawnPids(root)).length === 0) return false;
  const deadline = Date.now() + graceMs;
  let nextTerm = 0;
  while (Date.now() < deadline) {
    const pids = await nspawnPids(root);
    if (pids.length === 0) return true;
    if (Date.now() >= nextTerm) {
      await sh.write(['kill', ['-s', 'TERM', '--', String(pids[0])]], { nothrow: true });
      nextTerm = Date.now() + 3000;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const left = await nspawnPids(root);
  if (left.length) await sh.write(['kill', ['-s', 'KILL', '--', ...left.map(String)]], { nothrow: true });
  return true;
}

/** machinectl works only with systemd as PID 1 and machined reachable. */
export async function machinedAvailable(sh: Shell, config: Pick<Config, 'host'>): Promise<boolean> {
  if (!config.host.systemdPid1) return false;
  const probe = await sh.read(['machinectl', ['list', '--no-legend', '--no-pager']], { nothrow: true }).catch(() => undefined);
  return probe?.exitCode === 0;
}

/**
 * Runs a command with the terminal attached (an interactive console needs
 * the TTY, which Shell.run does not hand over). Same dry-run and verbose
 * rules as the Shell; argv goes to the kernel as is, no shell involved.
 */
export async function runAttached(sh: Shell, cmd: Command): Promise<number> {
  const text = formatCommand(cmd);
  if (sh.dryRun) {
    sh.planned.push(text);
    sh.log(`[dry-run] ${text}`);
    return 0;
  }
  if (sh.verbose) sh.log(`$ ${text}`);
  const [cli, args] = cmd;
  return new Promise((resolve, reject) => {
    // In our process group, with the terminal (children.ts: a foreground child).
    const child = trackChild(spawn(cli, [...args], { stdio: 'inherit' }), 'foreground');
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(code ?? 128 + (signal ? osConstants.signals[signal] : 0)));
  });
}

export interface BootReport {
  how: 'machinectl' | 'systemd-nspawn';
  /** Exit code of the foreground systemd-nspawn (0 after a clean poweroff), or machinectl's. */
  exitCode: number;
}

/** `nspawn-kit boot NAME`: machinectl start where machined runs, else systemd-nspawn --boot in the foreground. */
export async function bootMachine(ctx: MachineContext, ref: MachineRef): Promise<BootReport> {
  const { root, settings, handle } = await machineLaunch(ctx, ref);
  const { name } = handle;
  if (await isRunning(ctx.config, name)) {
    throw new OperationError(`machine ${name} is already running`, `Attach to its console, or stop it (\`kill -TERM <pid of systemd-nspawn>\`) first.`);
  }
  if (await machinedAvailable(ctx.sh, ctx.config)) {
    await ctx.sh.write(['machinectl', ['start', '--', name]], { hint: `\`journalctl -u systemd-nspawn@${name}\` says why.` });
    return { how: 'machinectl', exitCode: 0 };
  }
  return { how: 'systemd-nspawn', exitCode: await runAttached(ctx.sh, bootCommand(ctx.config, root, name, [], settings)) };
}

export interface RunOptions {
  /** 'inherit' (default): the terminal is attached; 'pipe': output captured (scripts, tests). */
  stdio?: 'inherit' | 'pipe';
}

export interface RunReport {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** `nspawn-kit run NAME -- CMD...`: the command's exit code is passed through. */
export async function runInMachine(ctx: MachineContext, ref: MachineRef, argv: readonly string[], opts: RunOptions = {}): Promise<RunReport> {
  const { root, settings, handle } = await machineLaunch(ctx, ref);
  const { name } = handle;
  if (await isRunning(ctx.config, name)) {
    throw new OperationError(`machine ${name} is running`, 'A booted machine cannot also run a non-boot command on the same root; stop it first.');
  }
  const cmd = runCommand(ctx.config, root, name, argv, settings);
  if (opts.stdio === 'pipe') {
    const res = await ctx.sh.write(cmd, { nothrow: true });
    return { exitCode: res.exitCode ?? 1, stdout: res.stdout, stderr: res.stderr };
  }
  return { exitCode: await runAttached(ctx.sh, cmd), stdout: '', stderr: '' };
}
