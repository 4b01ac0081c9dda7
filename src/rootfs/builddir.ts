/**
 * Transactional build directories: a root file system is built in
 * `<parent>/.nspawn-kit-build-<label>-<random>/root` (beside its target, so the
 * final rename stays on one file system) and only renamed into place when it
 * is complete. On failure everything under it is killed, unmounted (deepest
 * first) and removed with `rm -rf --one-file-system` (teardown.ts). While it
 * is open it registers its removal as an exit hook (exit-hooks.ts), so that
 * an entry point's SIGINT/SIGTERM handler aborts the build and removes it.
 * After a SIGKILL, sweepStaleBuilds() (build-sweep.ts, run at the start of
 * every command) finds the directory by its dead owner and does the same.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { OperationError } from '../errors.js';
import { exitHooks } from '../exit-hooks.js';
import { exists, type Shell } from '../shell.js';
import { BUILD_PREFIX, OWNER_FILE, type BuildOwner } from './build-sweep.js';
import { destroyBuildDir, mountsUnder, processStartTime } from './teardown.js';

export { BUILD_PREFIX, buildParents, ownerAlive, readOwner, sweepStaleBuilds, type BuildOwner, type SweepReport } from './build-sweep.js';
export { destroyBuildDir, killProcessesUnder, mountsUnder, parseMountsUnder, processStartTime, processesUnder, unmountAll } from './teardown.js';

export interface BuildDir {
  /** The temporary directory (holds owner.json and root/). */
  readonly dir: string;
  /** Where the root file system is built. */
  readonly root: string;
  /** Final path; commit() renames root there. */
  readonly target: string;
  /** Aborted when the process is interrupted (exit hooks): pass it to long-running commands. */
  readonly signal: AbortSignal;
  /** Verifies the root and renames it into place; refuses if the target exists. */
  commit(): Promise<void>;
  /** Kills, unmounts and removes everything under the build dir. Idempotent. */
  discard(): Promise<void>;
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
  let unregister = (): void => {};
  // The build's own (memoized) discard, so an interrupt and a failing task never race.
  const discard = (): Promise<void> => {
    if (finished && !discarding) return Promise.resolve();
    finished = true;
    discarding ??= destroyBuildDir(sh, dir).finally(() => unregister());
    return discarding;
  };
  await sh.mkdir(opts.parent);
  await sh.mkdir(dir, 0o700);
  unregister = exitHooks.register({
    what: 'removing unfinished builds',
    interrupt: (reason) => controller.abort(reason),
    cleanup: () =>
      discard().catch((err: unknown) => {
        throw new Error(`could not remove ${dir}: ${String(err)}`);
      }),
  });
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
      unregister();
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

