/** The original recipe's mirror stages as task scripts, each runnable alone. */
import { resolveAllRecipes } from '../config/recipes.js';
import type { AppContext } from '../context.js';
import type { Recipe } from '../config/types.js';
import type { ScriptFlags, ScriptSpec } from './script.js';
import { indexStage, installToolsStage, mirrorDirsStage, warmStage, configFilesStage, type MirrorStageCtx } from './stages.js';

function ctxFor(app: AppContext, _flags: ScriptFlags, recipe: Recipe | undefined): MirrorStageCtx {
  return { app, timings: [], recipes: recipe ? [recipe] : [] };
}

const COMMON = '--config FILE  --dry-run  --verbose';

export const installTools: ScriptSpec<MirrorStageCtx> = {
  title: 'install-tools',
  usage: `npx zx tasks/install-tools.mjs [${COMMON}]\n  checks debootstrap, systemd-nspawn, apt-ftparchive, gpg, … and installs what is missing with apt-get`,
  makeCtx: (app) => ({ app, timings: [], recipes: resolveAllRecipes(app.config) }),
  tasks: () => [installToolsStage()],
};

export const cacheDir: ScriptSpec<MirrorStageCtx> = {
  title: 'cache-dir',
  usage: `npx zx tasks/cache-dir.mjs [${COMMON}]\n  creates mirror.root, stateDir, machines.dir and the mirror signing key`,
  makeCtx: ctxFor,
  tasks: () => [mirrorDirsStage()],
};

export const configFiles: ScriptSpec<MirrorStageCtx> = {
  title: 'config-files',
  usage: `npx zx tasks/config-files.mjs [${COMMON}]\n  writes apt-move.conf and the Release primer (importer "apt-move")`,
  makeCtx: ctxFor,
  tasks: () => [configFilesStage()],
};

export const cacheWarming: ScriptSpec<MirrorStageCtx> = {
  title: 'cache-warming',
  defaultRecipe: 'bookworm-minimal',
  usage: `npx zx tasks/cache-warming.mjs [--recipe NAME] [${COMMON}]\n  downloads what the recipe needs into the mirror (default recipe: bookworm-minimal), then publishes`,
  makeCtx: ctxFor,
  tasks: () => [warmStage()],
};

export const index: ScriptSpec<MirrorStageCtx> = {
  title: 'index',
  usage: `npx zx tasks/index.mjs [${COMMON}]\n  imports from mirror.archives, generates the indices, signs and publishes`,
  makeCtx: ctxFor,
  tasks: () => [indexStage()],
  summary: (ctx) => (ctx.published?.suites ?? []).map((s) => `${s.codename}: ${s.packages} packages, InRelease sha256 ${s.inReleaseSha256}`),
};
