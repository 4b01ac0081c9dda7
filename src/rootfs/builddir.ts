/**
 * Transactional build directories: a root file system is built in
 * `<parent>/.nspawn-kit-build-<label>-<random>/root` (beside its target, so the
 * final rename stays on one file system) and only renamed into place when it
 * is complete. On failure, SIGINT or SIGTERM everything under it is killed,
 * unmounted (deepest first) and removed with `rm -rf --one-file-system`.
 * After a SIGKILL, sweepStaleBuilds() (run at the start of every command)
 * finds the directory by its dead owner and does the same.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/types.js';
import { OperationError } from '../errors.js';
import { mountsUnder, processesUnder, processIsZombie, processStartTime } from '../proc.js';
import { exists, type Shell } from '../shell.js';

export const BUILD_PREFIX = '.nspawn-kit-build-';
const OWNER_FILE = 'owner.json';
/** A build dir without an owner file is only swept when older than this (it may be being created). */
const ORPHAN_GRACE_MS = 10 * 60 * 1000;

export interface BuildOwner {
  pid: number;
  /** /proc/<pid>/stat starttime: tells a live owner from a recycled PID. */
  startTime: string;
}

export interface BuildDir {
  /** The temporary directory (holds owner.json and root/). */
  readonly dir: string;
  /** Where the root file system is built. */
  readonly root: string;
  /** Final path; commit() renames root there. */
  readonly target: string;
  /** Aborted on SIGINT/SIGTERM: pass it to long-running commands. */
  readonly signal: AbortSignal;
  /** Verifies the root and renames it into place; refuses if the target exists. */
  commit(): Promise<void>;
  /** Kills, unmounts and removes everything under the build dir. Idempotent. */
  discard(): Promise<void>;
}

interface Active {
  dir: string;
  controller: AbortController;
  /** The build's own (memoized) discard, so the signal handler and a failing task never race. */
  discard: () => Promise<void>;
}

const active = new Set<Active>();
let handlersInstalled = false;

const onSigint = (): void => void cleanupAndExit('SIGINT', 130);
const onSigterm = (): void => void cleanupAndExit('SIGTERM', 143);

async function cleanupAndExit(signal: string, code: number): Promise<never> {
  process.stderr.write(`\nnspawn-kit: ${signal}: removing unfinished builds\n`);
  const builds = [...active];
  for (const b of builds) b.controller.abort(new OperationError(`interrupted by ${signal}`));
  for (const b of builds) {
    try {
      await b.discard();
    } catch (err) {
      process.stderr.write(`nspawn-kit: could not remove ${b.dir}: ${String(err)}\n`);
    }
  }
  process.exit(code);
}

// Handlers are installed only while a build is active, so Node's default
// SIGINT behaviour is untouched the rest of the time.
function track(entry: Active): void {
  active.add(entry);
  if (!handlersInstalled) {
    process.on('SIGINT', onSigint);
    process.on('SIGTERM', onSigterm);
    handlersInstalled = true;
  }
}

function untrack(entry: Active): void {
  active.delete(entry);
  if (active.size === 0 && handlersInstalled) {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
    handlersInstalled = false;
  }
}

/** A root file system is complete: bootstrap finished (no `debootstrap/` left) and it looks like Debian. */
export async function verifyRootfs(root: string): Promise<void> {
  if (await exists(join(root, 'debootstrap'))) {
    throw new OperationError(`${root} still holds debootstrap/: the bootstrap did not finish`, 'See debootstrap/debootstrap.log in the build output; run the command again.');
  }
  if (!(await exists(join(root, 'etc', 'os-release'))) && !(await exists(join(root, 'usr', 'lib', 'os-release')))) {
    throw new OperationError(`${root} has no os-release: not a root file system`);
  }
}

export async function openBuildDir(sh: Shell, opts: { parent: string; label: string; target: string }): Promise<BuildDir> {
  const dir = join(opts.parent, `${BUILD_PREFIX}${opts.label}-${randomBytes(6).toString('hex')}`);
  const root = join(dir, 'root');
  const controller = new AbortController();
  let finished = false;
  let discarding: Promise<void> | undefined;
  const discard = (): Promise<void> => {
    if (finished && !discarding) return Promise.resolve();
    finished = true;
    discarding ??= destroyBuildDir(sh, dir).finally(() => untrack(entry));
    return discarding;
  };
  const entry: Active = { dir, controller, discard };
  await sh.mkdir(opts.parent);
  await sh.mkdir(dir, 0o700);
  track(entry);
  try {
    const owner: BuildOwner = { pid: process.pid, startTime: await processStartTime(process.pid) ?? '' };
    await sh.writeFile(join(dir, OWNER_FILE), `${JSON.stringify(owner)}\n`, 0o600);
    await sh.mkdir(root, 0o755);
  } catch (err) {
    await discard();
    throw err;
  }
  return {
    dir,
    root,
    target: opts.target,
    signal: controller.signal,
    async commit() {
      if (finished) throw new OperationError(`build dir ${dir} already finished`);
      if (!sh.dryRun) await verifyRootfs(root);
      if (await exists(opts.target)) {
        throw new OperationError(`${opts.target} already exists`, `Remove it first, or choose another name.`);
      }
      if (!sh.dryRun && (await mountsUnder(root)).length > 0) {
        throw new OperationError(`something is still mounted under ${root}`, 'A bootstrap step left a mount behind; run the command again.');
      }
      await sh.rename(root, opts.target);
      finished = true;
      untrack(entry);
      await destroyBuildDir(sh, dir);
    },
    discard,
  };
}

/** Runs fn in a fresh build dir; on any error the dir is discarded and the error rethrown. */
export async function withBuildDir<T>(
  sh: Shell,
  opts: { parent: string; label: string; target: string },
  fn: (build: BuildDir) => Promise<T>,
): Promise<T> {
  const build = await openBuildDir(sh, opts);
  try {
    return await fn(build);
  } catch (err) {
    await build.discard();
    throw err;
  }
}

/** Stop whatever still runs inside, unmount deepest first, then remove without crossing file systems. */
export async function destroyBuildDir(sh: Shell, dir: string): Promise<void> {
  if (sh.dryRun && !(await exists(dir))) return;
  await killProcessesUnder(sh, dir);
  await unmountAll(sh, dir);
  await sh.remove(dir);
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

/** Directories that hold build dirs: beside machines and beside cached bases. */
export function buildParents(config: Pick<Config, 'machines' | 'stateDir'>): string[] {
  return [config.machines.dir, join(config.stateDir, 'base')];
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
  for (const parent of buildParents(ctx.config)) {
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

// ---- mounts and processes under a directory (read from /proc by proc.ts) ----

export { mountsUnder, parseMountsUnder, processesUnder, processStartTime } from '../proc.js';

/**
 * Unmounts everything at or below dir, deepest first; a busy mount is
 * detached lazily. Mounts stacked on one mount point need one round each.
 */
export async function unmountAll(sh: Shell, dir: string): Promise<string[]> {
  const done: string[] = [];
  for (let round = 0; round < 16; round++) {
    const points = await mountsUnder(dir);
    if (points.length === 0 || sh.dryRun) break;
    for (const point of points) {
      const res = await sh.write(['umount', ['--', point]], { nothrow: true });
      // A mount may already be gone with its parent (e.g. a recursive bind).
      if (res.exitCode !== 0 && (await mountsUnder(point)).includes(point)) {
        await sh.write(['umount', ['-l', '--', point]], {
          hint: `Something keeps ${point} busy; find it with \`fuser -vm ${point}\`.`,
        });
      }
      done.push(point);
    }
  }
  const left = sh.dryRun ? [] : await mountsUnder(dir);
  if (left.length) throw new OperationError(`could not unmount ${left.join(', ')}`, 'Unmount them by hand (umount -l), then run the command again.');
  return done;
}

/** SIGKILLs every process under dir and waits (up to 5 s) until they are gone. */
export async function killProcessesUnder(sh: Shell, dir: string): Promise<number[]> {
  const pids = await processesUnder(dir);
  if (pids.length === 0) return pids;
  await sh.write(['kill', ['-s', 'KILL', '--', ...pids.map(String)]], { nothrow: true });
  for (let i = 0; i < 50; i++) {
    const alive = await Promise.all(pids.map(async (p) => (await processStartTime(p)) !== undefined && !(await processIsZombie(p))));
    if (!alive.some(Boolean)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return pids;
}
