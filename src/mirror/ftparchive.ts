/**
 * Packages indices with apt-ftparchive `generate`, as planned by
 * ftparchive-conf.ts: the file lists and configurations written into the
 * staging dir, the processes run side by side against mirror.root, each
 * architecture's index finished (packages-index.ts). Its --db cache with
 * AlwaysStat keeps the cost proportional to new or changed .debs, not to
 * the pool.
 *
 * apt-ftparchive exits 0 on corrupt .debs, missing files and a full disk, so
 * its word is never taken: its messages are judged (ftparchive-run.ts), and
 * the output must list exactly the requested files (packages-index.ts).
 */
import { promises as fsp } from 'node:fs';
import { type MirrorContext } from './context.js';
import { mirrorLayout } from './layout.js';
import { planGenerate, type GenerateRequest } from './ftparchive-conf.js';
import { runFtparchive } from './ftparchive-run.js';
import { finishIndex, type ArchIndex } from './packages-index.js';
import { settleAll } from './settle.js';

/**
 * AlwaysStat: a cached .deb is re-read when its size or mtime changed, not only
 * its name. The checksums are Debian's own archive's: MD5sum and SHA256 (apt
 * and debootstrap check SHA256; verify and the trusted index read it). SHA1 and
 * SHA512 per package made the index 40% bigger, and apt-ftparchive hashed every
 * .deb four times instead of twice.
 */
const FTPARCHIVE_OPTIONS = [
  '-o',
  'APT::FTPArchive::AlwaysStat=true',
  '-o',
  'APT::FTPArchive::Packages::SHA1=false',
  '-o',
  'APT::FTPArchive::Packages::SHA512=false',
];

/** Writes <outDir>/main/binary-<arch>/Packages{,.gz,.xz} for every architecture and checks them. */
export async function generatePackages(ctx: MirrorContext, req: GenerateRequest): Promise<ArchIndex[]> {
  const { sh } = ctx;
  const layout = mirrorLayout(ctx.config);
  await sh.mkdir(layout.cache);
  const plan = planGenerate(req, layout);
  for (const { index, fileLists } of plan.arches) {
    await sh.mkdir(index.dir);
    for (const f of fileLists) await scratchFile(ctx, f.path, f.text);
  }
  await Promise.all(plan.confs.map((c) => scratchFile(ctx, c.path, c.text)));
  const ran = await runFtparchive(
    ctx,
    plan.confs.map((c) => c.path),
    (confPath) => sh.write(['apt-ftparchive', ['-q', ...FTPARCHIVE_OPTIONS, 'generate', '--', confPath]], { cwd: layout.root, signal: ctx.signal }),
  );
  const indices = plan.arches.map((a) => a.index);
  if (!ran) return indices;
  await settleAll(plan.arches.map(({ index, outputs }) => finishIndex(ctx, index, outputs)));
  return indices;
}

/**
 * A scratch file of the staging dir: planned in a dry run; otherwise written
 * plainly (nothing reads it after a crash, and a stale staging dir is removed).
 */
export async function scratchFile(ctx: Pick<MirrorContext, 'sh'>, path: string, data: string): Promise<void> {
  if (ctx.sh.dryRun) await ctx.sh.writeFile(path, data);
  else await fsp.writeFile(path, data, { mode: 0o644 });
}
