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
  return trackChild(nodeSpawn(command, [...args], { ...opts, detached: true }), 'background');
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
  const targets = liveChildren();
  if (targets.length === 0) return [];
  const start = Date.now();
  const grace = (kind: ChildKind) => (kind === 'foreground' ? (opts.foregroundGraceMs ?? 20_000) : (opts.graceMs ?? 3_000));
  const killed = new Set<number>();
  let first = true;
  for (;;) {
    const table = await processTable();
    const left: number[] = [];
    for (const t of targets) {
      const members = membersOf(table, t.pid, t.kind);
      left.push(...members);
      if (first) signal(t.kind === 'foreground' ? members.filter((p) => p === t.pid) : members, 'SIGTERM');
      else if (Date.now() - start >= grace(t.kind)) {
        signal(members, 'SIGKILL');
        killed.add(t.pid);
      }
    }
    first = false;
    if (left.length === 0) return [];
    if (targets.every((t) => killed.has(t.pid)) && Date.now() - start >= Math.max(...targets.map((t) => grace(t.kind))) + 2_000) return left;
    await sleep(50);
  }
}
