/**
 * Whether the daemon runs, for `status`. The daemon (`daemon`, `watch`,
 * `schedule`) writes <stateDir>/mirror/daemon.json when it is ready and
 * removes it when it stops: its PID, that process's start time (field 22 of
 * /proc/<pid>/stat) and its parts. The record is believed only while the
 * kernel agrees: a process with that PID exists and started at that very
 * time (a daemon killed with SIGKILL leaves its record; a PID reused since
 * then has another start time). Where systemd is PID 1 and the record names
 * no live daemon, `systemctl is-active` on the packaged unit is asked too.
 *
 * The record is ours, but it is read like any state file: no link followed,
 * no blocking open, a regular file, bounded, every field checked.
 */
import { join } from 'node:path';
import type { Config } from '../config/types.js';
import { formatError } from '../errors.js';
import { processIsZombie, processStartTime } from '../proc.js';
import { readJsonRecord } from '../safe-file.js';
import type { Shell } from '../shell.js';
import { mirrorLayout } from './layout.js';

/** The packaged unit (triggers/daemon-unit.ts DAEMON_UNIT; the mirror layer cannot import it, a unit test keeps both equal). */
export const DAEMON_UNIT_NAME = 'nspawn-kit-daemon.service';

export interface DaemonRecord {
  version: 1;
  pid: number;
  /** starttime of /proc/<pid>/stat, in clock ticks since boot. */
  startTime: string;
  /** When it became ready (ISO-8601). */
  startedAt: string;
  watch: boolean;
  schedule: boolean;
}

export interface DaemonState {
  running: boolean;
  pid?: number;
  /** How it was found: its record in the state directory ("pid-file") or systemd ("systemd"); when not running, the last check made. */
  how: 'pid-file' | 'systemd';
  since?: string;
  watch?: boolean;
  schedule?: boolean;
  /** A record left by a daemon that is gone (killed without stopping), or a record that cannot be believed. */
  note?: string;
}

const MAX_BYTES = 4096;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;

export function daemonRecordPath(config: Pick<Config, 'stateDir' | 'mirror'>): string {
  return join(mirrorLayout(config).state, 'daemon.json');
}

/**
 * Records this process as the daemon; returns what removes the record again
 * (only while it is still this process's). A dry run records nothing; a
 * failure to write costs only the record (reported through onError).
 */
export async function recordDaemon(sh: Shell, config: Pick<Config, 'stateDir' | 'mirror'>, parts: { watch: boolean; schedule: boolean }, onError?: (message: string) => void): Promise<() => Promise<void>> {
  const path = daemonRecordPath(config);
  const startTime = await processStartTime(process.pid);
  if (sh.dryRun || startTime === undefined) return async () => undefined;
  const rec: DaemonRecord = { version: 1, pid: process.pid, startTime, startedAt: new Date().toISOString(), ...parts };
  try {
    await sh.writeFile(path, `${JSON.stringify(rec, null, 2)}\n`, 0o644);
  } catch (err) {
    onError?.(`could not record the daemon in ${path}: ${formatError(err)}`);
    return async () => undefined;
  }
  return async () => {
    const now = await readDaemonRecord(config);
    if (now.record?.pid === process.pid && now.record.startTime === startTime) await sh.remove(path).catch((err: unknown) => onError?.(`could not remove ${path}: ${formatError(err)}`));
  };
}

export function parseDaemonRecord(value: unknown): DaemonRecord | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a JSON object';
  const v = value as Record<string, unknown>;
  const problems: string[] = [];
  const known = new Set(['version', 'pid', 'startTime', 'startedAt', 'watch', 'schedule']);
  for (const k of Object.keys(v)) if (!known.has(k)) problems.push(`unknown field ${JSON.stringify(k).slice(0, 80)}`);
  if (v.version !== 1) problems.push('version: expected 1');
  if (!Number.isSafeInteger(v.pid) || (v.pid as number) < 1 || (v.pid as number) > 2 ** 22) problems.push('pid: expected a process ID');
  if (typeof v.startTime !== 'string' || !/^[0-9]{1,20}$/.test(v.startTime)) problems.push('startTime: expected clock ticks');
  if (typeof v.startedAt !== 'string' || !ISO.test(v.startedAt) || Number.isNaN(Date.parse(v.startedAt))) problems.push('startedAt: expected an ISO-8601 UTC time');
  if (typeof v.watch !== 'boolean') problems.push('watch: expected true or false');
  if (typeof v.schedule !== 'boolean') problems.push('schedule: expected true or false');
  if (problems.length) return problems.join('; ');
  return { version: 1, pid: v.pid as number, startTime: v.startTime as string, startedAt: v.startedAt as string, watch: v.watch as boolean, schedule: v.schedule as boolean };
}

export async function readDaemonRecord(config: Pick<Config, 'stateDir' | 'mirror'>): Promise<{ record?: DaemonRecord; error?: string }> {
  const path = daemonRecordPath(config);
  return readJsonRecord(path, MAX_BYTES, parseDaemonRecord);
}

/** True when the recorded process is alive and is the very one recorded (same start time, not a zombie). */
export async function recordAlive(rec: Pick<DaemonRecord, 'pid' | 'startTime'>): Promise<boolean> {
  const start = await processStartTime(rec.pid);
  return start === rec.startTime && !(await processIsZombie(rec.pid));
}

/** Whether the daemon runs now: its record checked against the kernel, then systemd where it is PID 1. */
export async function daemonState(sh: Shell, config: Pick<Config, 'stateDir' | 'mirror' | 'host'>): Promise<DaemonState> {
  const { record, error } = await readDaemonRecord(config);
  if (record && (await recordAlive(record))) {
    return { running: true, pid: record.pid, how: 'pid-file', since: record.startedAt, watch: record.watch, schedule: record.schedule };
  }
  const note = error ?? (record ? `pid ${record.pid} recorded at ${record.startedAt} is gone: that daemon did not stop cleanly` : undefined);
  const withNote = (s: DaemonState): DaemonState => (note ? { ...s, note } : s);
  if (!config.host.systemdPid1) return withNote({ running: false, how: 'pid-file' });
  const out = await sh.read(['systemctl', ['is-active', '--', DAEMON_UNIT_NAME]], { nothrow: true }).catch(() => undefined);
  return withNote({ running: out?.stdout.trim() === 'active', how: 'systemd' });
}
