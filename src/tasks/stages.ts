/**
 * Stage factories: each returns listr2 tasks built from the library pieces.
 * The task scripts in tasks/ and the CLI compose them; a stage that does not
 * apply says why in its skip reason rather than being left out of the list.
 */
import type { ListrTask, ListrDefaultRenderer, ListrSimpleRenderer } from 'listr2';
import type { Recipe } from '../config/types.js';
import { assertOnPath, fixHost, missingPackages, runDoctor, type DoctorReport } from '../host/doctor.js';
import { mirrorContext } from '../mirror/context.js';
import { importArchives, summarizeImport } from '../mirror/import.js';
import { mirrorLayout } from '../mirror/layout.js';
import { publishMirror, type PublishReport } from '../mirror/publish.js';
import { summarizeWarm, warmRecipes } from '../mirror/warm.js';
import { ensureSigningKey } from '../mirror/keys.js';
import { withMirrorWrite } from '../mirror/write-guard.js';
import { archiveOwner } from '../triggers/archive-owner.js';
import { stage, type StageCtx } from './runner.js';

type Task<C extends StageCtx> = ListrTask<C, ListrDefaultRenderer, ListrSimpleRenderer>;

export interface MirrorStageCtx extends StageCtx {
  recipes: Recipe[];
  doctor?: DoctorReport;
  published?: PublishReport;
}

/** Tools a set of recipes needs beyond the always-required ones. */
function optionalToolsNeeded(ctx: MirrorStageCtx): string[] {
  const pkgs: string[] = [];
  if (ctx.recipes.some((r) => r.bootstrap === 'mmdebstrap')) pkgs.push('mmdebstrap');
  if (ctx.app.config.mirror.importer === 'apt-move') pkgs.push('apt-move', 'lz4');
  return pkgs;
}

/** The original "install necessary packages": doctor, then apt-get what is missing. */
export function installToolsStage<C extends MirrorStageCtx>(): Task<C> {
  return stage<C>('Host tools (debootstrap, systemd-nspawn, apt-ftparchive, gpg…)', async (ctx, task, sh) => {
    const report = await runDoctor(sh);
    const wanted = new Set(optionalToolsNeeded(ctx));
    const needed = report.tools.filter((t) => !t.found && (!t.optional || wanted.has(t.pkg)));
    if (!needed.length) {
      ctx.doctor = report;
      return `all present${report.systemdPid1 ? '' : ' (systemd is not PID 1: direct systemd-nspawn, no machinectl)'}`;
    }
    assertOnPath(report, needed);
    sh.log(`installing ${needed.map((t) => t.pkg).join(' ')}`);
    const narrowed = { ...report, tools: report.tools.filter((t) => t.found || needed.includes(t)) };
    const installed = await fixHost(sh, narrowed, true);
    ctx.doctor = sh.dryRun ? report : await runDoctor(sh);
    const still = missingPackages(ctx.doctor, false);
    if (still.length && !sh.dryRun) throw new Error(`still missing after apt-get install: ${still.join(', ')}`);
    return `installed ${installed.join(' ')}`;
  });
}

/** The original "create folder and helper files": mirror, state, machines dirs and the signing key. */
export function mirrorDirsStage<C extends MirrorStageCtx>(): Task<C> {
  return stage<C>('Mirror directories and signing key', async (ctx, task, sh) => {
    const { config } = ctx.app;
    const layout = mirrorLayout(config);
    await sh.mkdir(config.stateDir, 0o755);
    await sh.mkdir(layout.state, 0o755);
    await sh.mkdir(layout.pool, 0o755);
    await sh.mkdir(layout.dists, 0o755);
    await sh.mkdir(config.machines.dir, 0o700);
    // Under the mirror lock: two first runs (a script and the daemon) must not make two keys.
    const mctx = { ...mirrorContext(ctx.app), sh, log: (l: string) => sh.log(l) };
    const fpr = await withMirrorWrite(mctx, () => ensureSigningKey(mctx));
    return `${layout.root}, key ${/^[0-9A-F]{40}$/.test(fpr) ? fpr.slice(-16) : fpr}`;
  });
}

/** Cache warming: everything the recipes need, downloaded once into the mirror. */
export function warmStage<C extends MirrorStageCtx>(): Task<C> {
  return stage<C>('Cache warming', async (ctx, task, sh) => {
    const mctx = { ...mirrorContext(ctx.app), sh, log: (l: string) => sh.log(l) };
    const report = await withMirrorWrite(mctx, () => warmRecipes(mctx, ctx.recipes));
    return summarizeWarm(report);
  });
}

/**
 * Index generation, signing, publishing. With importArchives (tasks/index.mjs),
 * the .debs of mirror.archives are imported first; the container graph leaves
 * that to `mirror import` and the watcher (the host's whole apt cache is not
 * what a container needs, and importing 2 GB of it takes minutes).
 */
export function indexStage<C extends MirrorStageCtx>(opts: { importArchives: boolean } = { importArchives: true }): Task<C> {
  const title = opts.importArchives ? 'Import from the apt archives, index, sign, publish' : 'Index, sign, publish';
  return stage<C>(title, async (ctx, task, sh) => {
    const mctx = { ...mirrorContext(ctx.app), sh, log: (l: string) => sh.log(l) };
    const { imported, published } = await withMirrorWrite(mctx, async () => {
      const imp = opts.importArchives ? await importArchives(mctx, ctx.app.config.mirror.archives, archiveOwner) : undefined;
      if (imp) sh.log(summarizeImport(imp));
      return { imported: imp, published: await publishMirror(mctx) };
    });
    ctx.published = published;
    const suites = published.suites.map((s) => `${s.codename} ${s.packages} pkgs`).join(', ');
    const rejected = imported?.rejected.length ?? 0;
    return `${suites || 'no suites'}${imported ? `; imported ${imported.imported.length} new` : ''}${rejected ? `; ${rejected} file(s) rejected (see nspawn-kit status)` : ''}`;
  });
}

/**
 * The original "helper files": apt-move.conf and the Release primer. Our
 * publisher builds Release from the configuration (mirror.origin, codename,
 * architectures) and the apt-move importer renders apt-move.conf afresh on
 * every import, so this stage only checks that what apt-move needs is there.
 */
export function configFilesStage<C extends MirrorStageCtx>(): Task<C> {
  return stage<C>(
    'Configuration files (apt-move.conf, Release fields)',
    async (ctx) => {
      const { mirror } = ctx.app.config;
      return `apt-move.conf is rendered by each import; Release: Origin ${mirror.origin}, ${mirror.architectures.join(' ')}, Valid-Until +${mirror.validDays} days`;
    },
    {
      skip: (ctx) =>
        ctx.app.config.mirror.importer === 'apt-move'
          ? false
          : 'mirror.importer is "native": no apt-move.conf; Release fields come from the configuration at publish',
    },
  );
}
