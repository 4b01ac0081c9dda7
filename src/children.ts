/**
 * Every child process the command started, so that an interrupt stops all of
 * them, grandchildren included (issue 15: SIGTERM during `mirror warm` left
 * apt-get running, re-parented to PID 1).
 *
 * Why this shape: a terminal's Ctrl-C reaches the whole foreground process
 * group, but SIGTERM from systemd or `kill` (and SIGHUP) reaches node only,
 * and a grandchild that leaves the group (a daemon, a chroot'd dpkg started by
 * a tool that calls setsid) is reached by neither. So:
 * - background children (every Shell command, and the other children that
 *   need no terminal) start in a session and process group of their own
 *   (detached: setsid), registered here. On the entry point's signal
 *   (exit-hooks.ts) stopChildren sends SIGTERM to every member of that
 *   session and process group and to every descendant (parent links in
 *   /proc), waits a grace period, then SIGKILLs what is left. In their own
 *   session they have no controlling terminal: nothing they run can stop the
 *   command by reading the tty, and the terminal's Ctrl-C reaches them only
 *   through us (this forwarding).
 * - foreground children (systemd-nspawn of `boot` and `run`, which need the
 *   terminal) stay in our process group, so the user's keys and job control
 *   work as before. On a signal they get SIGTERM (systemd-nspawn then stops
 *   its container in order: --kill-signal) and a longer grace period, then
 *   they and their descendants are SIGKILLed.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { spawn as nodeSpawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { processTable, type ProcessRow } from './proc.js';

export type ChildKind = 'background' | 'foreground';

const live = new Map<ChildProcess, ChildKind>();

/** Registers a spawned child until it exits; returns it. */
export function trackChild<T extends ChildProcess>(child: T, kind: ChildKind = 'background'): T {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return child;
  live.set(child, kind);
  const forget = (): void => void live.delete(child);
  child.once('exit', forget);
  child.once('error', forget);
  return child;
}

/**
 * child_process.spawn for background children: its own session and process
 * group (setsid), registered until it exits. The Shell hands it to zx.
 */
export function spawnBackground(command: string, args: readonly string[], opts: SpawnOptions = {}): ChildProcess {
  const child = trackChild(nodeSpawn(command, [...args], { ...opts, detached: true }), 'background');
  // Started after the signal by the interrupted work (which goes on until the process exits: a caught
  // error, a next step): killed at birth, so nothing new runs. The exit hooks' own cleanup is exempt.
  // spawn() returns once exec succeeded, so setsid has run: the group is the child's alone.
  if (closing && !exiting.getStore() && child.pid !== undefined) signal([-child.pid], 'SIGKILL');
  return child;
}

let closing = false;
const exiting = new AsyncLocalStorage<true>();

/** The process is about to exit on a signal: a background child started from now on is killed at once (but see whileExiting). */
export function closeChildren(): void {
  closing = true;
}

/** Runs an exit hook's cleanup: the children it starts (kill, umount, rm, gpgconf) are let run. */
export function whileExiting<T>(fn: () => Promise<T>): Promise<T> {
  return exiting.run(true, fn);
}

/** PIDs and kinds of the registered children still running. */
export function liveChildren(): { pid: number; kind: ChildKind }[] {
  return [...live].map(([c, kind]) => ({ pid: c.pid as number, kind }));
}

export interface StopChildrenOptions {
  /** How long background children get after SIGTERM before SIGKILL (default 3 s). */
  graceMs?: number;
  /** How long a foreground child (a container stopping in order) gets (default 20 s). */
  foregroundGraceMs?: number;
}

/** Members of one child's tree: its session and group (background), and every descendant. */
function membersOf(table: readonly ProcessRow[], root: number, kind: ChildKind): number[] {
  const found = new Set<number>();
  for (const row of table) {
    if (row.pid === root || (kind === 'background' && (row.sid === root || row.pgrp === root))) found.add(row.pid);
  }
  const children = new Map<number, number[]>();
  for (const row of table) children.set(row.ppid, [...(children.get(row.ppid) ?? []), row.pid]);
  const queue = [root, ...found];
  while (queue.length) {
    for (const c of children.get(queue.pop() as number) ?? []) {
      if (!found.has(c)) {
        found.add(c);
        queue.push(c);
      }
    }
  }
  const zombies = new Set(table.filter((r) => r.state.startsWith('Z')).map((r) => r.pid));
  return [...found].filter((p) => p !== process.pid && !zombies.has(p));
}

function signal(pids: readonly number[], sig: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, sig);
    } catch {
      /* gone meanwhile */
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Stops every registered child and its whole tree: SIGTERM, the grace
 * period, SIGKILL, then up to 2 s more for them to go. Returns the PIDs still
 * alive after that (none, unless a process ignores SIGKILL in the D state).
 */
export async function stopChildren(opts: StopChildrenOptions = {}): Promise<number[]> {
  const grace = (kind: ChildKind) => (kind === 'foreground' ? (opts.foregroundGraceMs ?? 20_000) : (opts.graceMs ?? 3_000));
  // Each target with the time it was first signalled; a child started meanwhile joins the next round.
  // `seen`: every member found so far; one whose parent exited (re-parented to PID 1) stays a member.
  const targets = new Map<number, { kind: ChildKind; since: number; killed: boolean; seen: Set<number> }>();
  for (;;) {
    const fresh = liveChildren().filter((c) => !targets.has(c.pid));
    for (const c of fresh) targets.set(c.pid, { kind: c.kind, since: Date.now(), killed: false, seen: new Set() });
    if (targets.size === 0) return [];
    const table = await processTable();
    const running = new Set(table.filter((r) => !r.state.startsWith('Z')).map((r) => r.pid));
    const left: number[] = [];
    let overdue = true;
    for (const [pid, t] of targets) {
      for (const m of membersOf(table, pid, t.kind)) t.seen.add(m);
      const members = [...t.seen].filter((m) => running.has(m));
      left.push(...members);
      const waited = Date.now() - t.since;
      if (fresh.some((c) => c.pid === pid)) signal(t.kind === 'foreground' ? members.filter((p) => p === pid) : members, 'SIGTERM');
      // A foreground child that has exited had its chance to stop its own: what it left goes now.
      else if (t.kind === 'foreground' && !running.has(pid)) signal(members, 'SIGKILL');
      else if (waited >= grace(t.kind)) {
        signal(members, 'SIGKILL');
        t.killed = true;
      }
      if (!t.killed || waited < grace(t.kind) + 2_000) overdue = false;
    }
    // Checked synchronously with the registry: nothing can have started since this round looked.
    if (left.length === 0 && liveChildren().every((c) => targets.has(c.pid))) return [];
    if (left.length > 0 && overdue) return left;
    await sleep(50);
  }
}
