/**
 * Interrupting a command and looking for what it left running (issue 15).
 * The command runs in a session of its own (spawned detached: setsid) with a
 * unique token in its environment, which every process it starts inherits.
 * A fake slow tool (slowTools) records that it started and forks a
 * grandchild that loops forever; the test signals the command's node process
 * ALONE (as systemd or `kill` would), waits for it to exit, then scans
 * /proc for any process still in that session, carrying the token, or naming
 * the test's directory: none may be left.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { cliEnv, entry, ROOT } from './cli.js';

const ZX = join(ROOT, 'node_modules', 'zx', 'build', 'cli.js');

/** A bin directory whose tools block: each records "PID NAME ARGS" in `mark`, forks a looping grandchild, waits. */
export function slowTools(dir: string, tools: string[]): { bin: string; mark: string } {
  const bin = join(dir, 'bin');
  const mark = join(dir, 'started');
  mkdirSync(bin, { recursive: true });
  const slow = join(bin, 'slow-tool');
  writeFileSync(
    slow,
    ['#!/bin/sh', `echo "$$ $(basename "$0") $*" >> '${mark}'`, `sh -c 'while :; do sleep 1; done' "$0-grandchild" &`, 'wait', ''].join('\n'),
  );
  chmodSync(slow, 0o755);
  for (const t of tools) symlinkSync(slow, join(bin, t));
  return { bin, mark };
}

export interface Leftover {
  pid: number;
  cmdline: string;
}

/** Processes in session `sid`, or whose environment holds `token`, or whose argv names `dir` (zombies excluded). */
export function leftovers(sid: number, token: string, dir: string): Leftover[] {
  const found: Leftover[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (f[0] === 'Z') continue;
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
      const environ = readFileSync(`/proc/${entry}/environ`, 'utf8');
      if (Number(f[3]) === sid || environ.includes(token) || cmdline.includes(dir)) found.push({ pid: Number(entry), cmdline });
    } catch {
      /* gone meanwhile */
    }
  }
  return found;
}

export interface Interrupted {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** What ran in the command's session/tree just before the signal (proves the scan sees them). */
  before: Leftover[];
  /** What was left after it exited: must be empty. */
  after: Leftover[];
}

export interface InterruptOptions {
  /** The tool (a name in slowTools) whose start means "now interrupt"; without `mark`: a process of the run whose argv names it. */
  waitFor: string;
  /** slowTools' record of started tools (absent: the real tools run). */
  mark?: string;
  /** Put first on PATH (slowTools' bin). */
  bin?: string;
  dir: string;
  signal: NodeJS.Signals;
  env?: Record<string, string>;
  /** Run a zx script (tasks/*.mjs, hooks/*.mjs) instead of the CLI. */
  script?: string;
  timeoutMs?: number;
  /** Once the command's output shows `text` (a daemon's "daemon-ready"), call `then` (drop a file for it to work on). */
  when?: { text: string; then: () => void };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs the command in its own session, signals its node process once `waitFor` runs, reports what is left. */
export async function interrupt(args: string[], o: InterruptOptions): Promise<Interrupted> {
  const token = `nk-interrupt-${randomBytes(8).toString('hex')}`;
  const env = cliEnv({ ...o.env, PATH: o.bin ? `${o.bin}:${process.env.PATH ?? ''}` : (process.env.PATH ?? ''), NK_INTERRUPT_TOKEN: token, NO_COLOR: '1', CI: 'true' });
  const argv = o.script ? [ZX, join(ROOT, o.script), ...args] : [...entry(), ...args];
  const child = spawn(process.execPath, argv, { cwd: o.dir, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((r) => child.on('exit', (code, sig) => r([code, sig])));
  const sid = child.pid as number;
  const deadline = Date.now() + (o.timeoutMs ?? 120_000);
  const { mark } = o;
  const started = (): boolean =>
    mark
      ? existsSync(mark) && readFileSync(mark, 'utf8').split('\n').some((l) => l.split(' ')[1] === o.waitFor)
      : leftovers(sid, token, o.dir).some((p) => p.pid !== sid && p.cmdline.includes(o.waitFor));
  let done = false;
  void exited.then(() => (done = true));
  // Checked once per round: a short-lived process (dpkg-deb) may be gone by a second look.
  let seen = false;
  let kicked = false;
  while (!(seen = started()) && !done && Date.now() < deadline) {
    if (o.when && !kicked && (stdout + stderr).includes(o.when.text)) {
      kicked = true;
      o.when.then();
    }
    await sleep(100);
  }
  if (!seen) {
    if (!done) process.kill(sid, 'SIGKILL');
    await exited;
    throw new Error(`${o.waitFor} never started (exit ${child.exitCode}):\n${stderr}`);
  }
  // The fake tool's grandchild is forked right after the mark line.
  let before: Leftover[] = leftovers(sid, token, o.dir).filter((p) => p.pid !== sid);
  for (let i = 0; mark && i < 50 && !before.some((p) => p.cmdline.includes('-grandchild')); i++) {
    await sleep(100);
    before = leftovers(sid, token, o.dir).filter((p) => p.pid !== sid);
  }
  process.kill(sid, o.signal);
  const [code, signal] = await exited;
  const after = leftovers(sid, token, o.dir);
  // Leave nothing behind whatever the assertions say.
  for (const p of after) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  return { code, signal, stdout, stderr, before, after };
}
