/**
 * Build dirs left behind by a dead owner (SIGKILL, crash, power loss): every
 * build dir records its owner process; sweepStaleBuilds() (run at the start
 * of every command that builds) removes those whose owner is gone.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/types.js';
import type { Shell } from '../shell.js';
import { destroyBuildDir, processStartTime } from './teardown.js';

export const BUILD_PREFIX = '.nspawn-kit-build-';
export const OWNER_FILE = 'owner.json';
/** A build dir without an owner file is only swept when older than this (it may be being created). */
const ORPHAN_GRACE_MS = 10 * 60 * 1000;

export interface BuildOwner {
  pid: number;
  /** /proc/<pid>/stat starttime: tells a live owner from a recycled PID. */
  startTime: string;
}

export async function readOwner(dir: string): Promise<BuildOwner | undefined> {
  try {
    const parsed: unknown = JSON.parse(await fsp.readFile(join(dir, OWNER_FILE), 'utf8'));
    if (parsed && typeof parsed === 'object' && 'pid' in parsed && typeof parsed.pid === 'number') {
      const startTime = 'startTime' in parsed && typeof parsed.startTime === 'string' ? parsed.startTime : '';
      return { pid: parsed.pid, startTime };
    }
  } catch {
    // missing or half-written: treated as "no owner"
  }
  return undefined;
}

export async function ownerAlive(owner: BuildOwner): Promise<boolean> {
  const start = await processStartTime(owner.pid);
  if (start === undefined) return false;
  return owner.startTime === '' || owner.startTime === start;
}

/** Directories that hold build dirs: beside machines, beside cached bases, beside overlay machines' state (machine/overlay-state.ts). */
export function buildParents(config: Pick<Config, 'machines' | 'stateDir'>): string[] {
  return [config.machines.dir, join(config.stateDir, 'base'), join(config.stateDir, 'overlay')];
}

export interface SweepReport {
  removed: string[];
  /** Build dirs of a live process, left alone. */
  inUse: string[];
}

/**
 * Removes leftover build dirs whose owner process is gone (SIGKILL, crash,
 * power loss), with whatever is still mounted or running under them.
 */
export async function sweepStaleBuilds(ctx: { sh: Shell; config: Pick<Config, 'machines' | 'stateDir'> }): Promise<SweepReport> {
  const report: SweepReport = { removed: [], inUse: [] };
  for (const given of buildParents(ctx.config)) {
    // The real path: mount points under a build dir are found by it in mountinfo.
    const parent = await fsp.realpath(given).catch(() => given);
    let entries: string[];
    try {
      entries = await fsp.readdir(parent);
    } catch {
      continue;
    }
    for (const entry of entries.filter((e) => e.startsWith(BUILD_PREFIX))) {
      const dir = join(parent, entry);
      const owner = await readOwner(dir);
      if (owner ? await ownerAlive(owner) : await isRecent(dir)) {
        report.inUse.push(dir);
        continue;
      }
      await destroyBuildDir(ctx.sh, dir);
      report.removed.push(dir);
    }
  }
  return report;
}

async function isRecent(dir: string): Promise<boolean> {
  try {
    const st = await fsp.stat(dir);
    return Date.now() - st.mtimeMs < ORPHAN_GRACE_MS;
  } catch {
    return false;
  }
}

