/**
 * Staged publish of every suite, in the order that keeps readers consistent
 * at every instant (the order Debian mirrors use):
 *   1. index files generated and checked in a staging dir (<root>/.staging,
 *      same file system, outside dists/<codename>): a file the indexer cannot
 *      read is quarantined and the rest indexed, and every entry must name its
 *      pool file as validated, or nothing is signed (index-suite.ts);
 *   2. Release built and signed there (InRelease, Release.gpg), while
 *   3. by-hash copies of the new indices are written into the suite (nothing
 *      refers to them yet) and the staged indices are fsynced;
 *   4. the publication recorded (gc keeps the pool files it references);
 *   5. the index files renamed into place;
 *   6. Release and Release.gpg renamed into place, InRelease LAST.
 * Every file is durable before the rename that publishes it. Steps that run
 * at once are only ever writes outside the live view or fsyncs; the renames of
 * 5 and 6 keep their order. A client that fetched the old InRelease still
 * finds its by-hash files (kept for graceHours and for the last few
 * publications); a crash at any point leaves the previous InRelease live and
 * consistent.
 */
import { randomBytes, createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { OperationError } from '../errors.js';
import { exists, fsyncDir } from '../shell.js';
import { progress, type MirrorContext } from './context.js';
import { membersForArch } from './ftparchive-conf.js';
import { settleAll } from './settle.js';
import { assertCodename, readSuite, suitesToPublish } from './suites.js';
import { ensureSigningKey, signRelease } from './keys.js';
import { mirrorLayout, type MirrorLayout } from './layout.js';
import { buildRelease, byHashPaths, releaseFieldsFor } from './release.js';
import { pruneSuite, recordPublication } from './publications.js';
import { checkFreeSpace, isNoSpace, noSpaceError, spaceNeeded } from './publish-space.js';
import { IndexDisagrees, indexSuite } from './index-suite.js';
import { pidAlive } from '../proc.js';

export interface PublishOptions {
  /** Only these suites (default: suitesToPublish, every suite with a list and the rest of its family). */
  codenames?: string[];
  /** false skips the free-space estimate (the real writes are still checked). */
  spaceCheck?: boolean;
  /** apt-ftparchive processes per suite (default: partsFor, by suite size and CPUs). */
  indexParts?: number;
}

export interface SuitePublication {
  codename: string;
  architectures: string[];
  /** .debs indexed (an `all` package listed for several architectures counts once). */
  packages: number;
  /** Sum of the listed .debs' sizes. */
  bytes: number;
  /** sha256 of the published InRelease ('' in a dry run). */
  inReleaseSha256: string;
  durationMs: number;
  /** Members whose architecture is not configured: not indexed, listed so nothing vanishes silently. */
  otherArchitectures: string[];
  /** Pool files the indexer could not read: quarantined, out of the suite list, the rest published. */
  quarantined: Array<{ file: string; reason: string }>;
}

export interface PublishReport {
  fingerprint: string;
  dryRun: boolean;
  suites: SuitePublication[];
}

export async function publishMirror(ctx: MirrorContext, opts: PublishOptions = {}): Promise<PublishReport> {
  const layout = mirrorLayout(ctx.config);
  const known = await suitesToPublish(layout);
  const codenames = opts.codenames ?? known;
  for (const c of codenames) assertCodename(c);
  const suites = new Map<string, string[]>();
  // A family suite without a list is published empty; any other suite without one is a mistake (a typo).
  for (const c of codenames) suites.set(c, await readSuite(layout, c, { required: !known.includes(c) }));
  const need = spaceNeeded([...suites.values()].reduce((n, m) => n + m.length, 0), ctx.config.mirror.architectures.length);
  if (opts.spaceCheck !== false) await checkFreeSpace(layout.root, need);
  await ctx.sh.mkdir(layout.root);
  // The key is looked up (or made) while the first suite is indexed: gpg beside apt-ftparchive.
  // A dry run keeps the plan in its old order. Awaited (settled) before this function returns or throws.
  const key = ctx.sh.dryRun ? Promise.resolve(await ensureSigningKey(ctx)) : ensureSigningKey(ctx);
  key.catch(() => undefined);
  const suitesDone: SuitePublication[] = [];
  // A suite whose index disagreed with the pool is not published; the others still are.
  const refused: IndexDisagrees[] = [];
  try {
    for (const [codename, members] of suites) {
      ctx.signal?.throwIfAborted();
      try {
        suitesDone.push(await publishSuite(ctx, layout, key, codename, members, opts.indexParts));
      } catch (err) {
        if (err instanceof IndexDisagrees) refused.push(err);
        else if (isNoSpace(err)) throw await noSpaceError(err, layout.root, codename, need);
        else throw err;
      }
    }
  } finally {
    await key.catch(() => undefined);
  }
  if (refused.length === 1) throw refused[0];
  if (refused.length) throw new OperationError(refused.map((r) => r.message).join('\n'), refused[0]?.hint);
  return { fingerprint: await key, dryRun: ctx.sh.dryRun, suites: suitesDone };
}

async function publishSuite(
  ctx: MirrorContext,
  layout: MirrorLayout,
  key: Promise<string>,
  codename: string,
  members: string[],
  indexParts: number | undefined,
): Promise<SuitePublication> {
  const started = performance.now();
  const { sh, config } = ctx;
  const archs = config.mirror.architectures;
  const otherArchitectures = members.filter((m) => !archs.some((a) => membersForArch([m], a).length));
  if (otherArchitectures.length) progress(ctx, `${codename}: ${otherArchitectures.length} .debs of unconfigured architectures are not indexed`);
  const stagingRoot = join(layout.root, '.staging');
  await removeStaleStaging(ctx, stagingRoot, codename);
  const staging = join(stagingRoot, `${codename}-${process.pid}-${randomBytes(4).toString('hex')}`);
  await sh.mkdir(staging);
  try {
    const { indices, quarantined } = await indexSuite(ctx, codename, members, staging, indexParts);
    const sizes = new Map(indices.flatMap((i) => [...i.sizes]));
    const packages = sh.dryRun ? new Set(indices.flatMap((i) => i.files)).size : sizes.size;
    const bytes = [...sizes.values()].reduce((n, b) => n + b, 0);
    if (sh.dryRun) {
      progress(ctx, `[dry-run] would sign and publish ${codename}: ${packages} packages into ${join(layout.dists, codename)}`);
      return { codename, architectures: archs, packages, bytes, inReleaseSha256: '', durationMs: performance.now() - started, otherArchitectures, quarantined };
    }
    // Hashed from memory as checked and written: the bytes hashed are the bytes published.
    const files = indices.flatMap((i) => i.forms);
    const release = buildRelease(releaseFieldsFor(config.mirror, codename, files.map((f) => f.index), new Date()));
    const signed = { release: join(staging, 'Release'), inRelease: join(staging, 'InRelease'), releaseGpg: join(staging, 'Release.gpg') };
    // A staging file: made durable (fsync) just before the rename that publishes it, below.
    await fsp.writeFile(signed.release, release, { mode: 0o644 });
    const fingerprint = await key;
    const suiteDir = join(layout.dists, codename);
    // While gpg signs (in staging), the by-hash copies go into the suite (nothing refers to them
    // until the new InRelease is live) and the staged indices are made durable: these are
    // written and fsynced before anything is renamed into place.
    await settleAll<unknown>([
      signRelease(ctx, fingerprint, signed.release, signed),
      // Each an atomic, durable write of its own (temp name, fsync, rename, directory fsync).
      ...files.flatMap((f) =>
        byHashPaths(f.index).map(async (rel) => {
          const target = join(suiteDir, rel);
          // Content-addressed: an existing file of the right size is the same file.
          const st = await fsp.stat(target).catch(() => undefined);
          if (st?.size !== f.index.size) await sh.writeFile(target, f.data);
        }),
      ),
      ...files.map((f) => fsyncFile(f.staged)),
    ]);
    progress(ctx, `${codename}: by-hash copies written`);
    const inReleaseText = await fsp.readFile(signed.inRelease);
    ctx.signal?.throwIfAborted();
    const releaseFiles = ['Release', 'Release.gpg', 'InRelease'] as const;
    // Recorded before anything but by-hash copies changed: all that follows are renames,
    // which need no space, so a full disk cannot leave new plain indices beside the old InRelease.
    // Meanwhile the signed files are made durable too.
    await settleAll<unknown>([
      recordPublication(ctx, codename, inReleaseText, indices.flatMap((i) => i.files)),
      ...releaseFiles.map(async (name) => {
        const from = join(staging, name);
        await fsp.chmod(from, 0o644);
        await fsyncFile(from);
      }),
    ]);
    for (const f of files) {
      const target = join(suiteDir, f.index.path);
      await sh.mkdir(dirname(target));
      await sh.rename(f.staged, target);
    }
    await settleAll(indices.map((i) => fsyncDir(join(suiteDir, 'main', `binary-${i.arch}`))));
    progress(ctx, `${codename}: index files in place, InRelease next`);
    // In this order: InRelease last.
    for (const name of releaseFiles) await sh.rename(join(staging, name), join(suiteDir, name));
    await fsyncDir(suiteDir);
    // Live. The staging dir goes while old by-hash files are pruned (again in `finally`, a no-op then).
    await settleAll<unknown>([pruneSuite(ctx, codename, suiteDir, archs), fsp.rm(staging, { recursive: true, force: true })]);
    const inReleaseSha256 = createHash('sha256').update(inReleaseText).digest('hex');
    const durationMs = performance.now() - started;
    progress(ctx, `published ${codename}: ${packages} packages, InRelease sha256 ${inReleaseSha256.slice(0, 16)}…`);
    return { codename, architectures: archs, packages, bytes, inReleaseSha256, durationMs, otherArchitectures, quarantined };
  } finally {
    // Our own staging dir holds no mounts: fs.rm, not a spawned `rm --one-file-system`.
    if (sh.dryRun) await sh.remove(staging);
    else await fsp.rm(staging, { recursive: true, force: true });
  }
}

async function fsyncFile(path: string): Promise<void> {
  const fh = await fsp.open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Staging dirs of this suite left by a killed publisher (its pid is gone). */
async function removeStaleStaging(ctx: MirrorContext, stagingRoot: string, codename: string): Promise<void> {
  if (!(await exists(stagingRoot))) return;
  for (const name of await fsp.readdir(stagingRoot)) {
    const m = new RegExp(`^${codename}-(\\d+)-[0-9a-f]+$`).exec(name);
    if (m && !pidAlive(Number(m[1]))) await ctx.sh.remove(join(stagingRoot, name));
  }
}

export { recordStamp, recordTime } from './publications.js';
export { freeBytes } from './publish-space.js';
