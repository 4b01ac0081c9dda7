/** The original recipe's mirror stages as task scripts, each runnable alone. */
import { resolveAllRecipes } from '../config/recipes.js';
import type { AppContext } from '../context.js';
import type { Recipe } from '../config/types.js';
import type { ScriptFlags, ScriptSpec } from './script.js';
import { indexStage, installToolsStage, mirrorDirsStage, warmStage, configFilesStage, type MirrorStageCtx } from './stages.js';

function ctxFor(app: AppContext, _flags: ScriptFlags, recipe: Recipe | undefined): MirrorStageCtx {
  return { app, timings: [], recipes: recipe ? [recipe] : [] };
}

export const installTools: ScriptSpec<MirrorStageCtx> = {
  title: 'install-tools',
  usage: {
    file: 'tasks/install-tools.mjs',
    about: 'Checks the host tools (debootstrap, systemd-nspawn, apt-ftparchive, gpg, …, and mmdebstrap when a\nrecipe uses it) and installs what is missing with apt-get.',
  },
  makeCtx: (app) => ({ app, timings: [], recipes: resolveAllRecipes(app.config) }),
  tasks: () => [installToolsStage()],
};

export const cacheDir: ScriptSpec<MirrorStageCtx> = {
  title: 'cache-dir',
  usage: { file: 'tasks/cache-dir.mjs', about: 'Creates mirror.root, stateDir and machines.dir, and the mirror signing key when there is none.' },
  makeCtx: ctxFor,
  tasks: () => [mirrorDirsStage()],
};

export const configFiles: ScriptSpec<MirrorStageCtx> = {
  title: 'config-files',
  usage: {
    file: 'tasks/config-files.mjs',
    about: 'Writes apt-move.conf and the Release primer (only with mirror.importer "apt-move"; skipped, with\nthe reason, under the native importer).',
  },
  makeCtx: ctxFor,
  tasks: () => [configFilesStage()],
};

export const cacheWarming: ScriptSpec<MirrorStageCtx> = {
  title: 'cache-warming',
  defaultRecipe: 'bookworm-minimal',
  extraFlags: ['recipe'],
  usage: {
    file: 'tasks/cache-warming.mjs',
    about: 'Downloads everything the recipe needs into the mirror, then publishes.',
    options: [['--recipe NAME', 'the recipe to warm for (default: bookworm-minimal)']],
  },
  makeCtx: ctxFor,
  tasks: () => [warmStage()],
};

export const index: ScriptSpec<MirrorStageCtx> = {
  title: 'index',
  usage: { file: 'tasks/index.mjs', about: 'Imports the .debs of mirror.archives, generates the indices, signs and publishes every suite.' },
  makeCtx: ctxFor,
  tasks: () => [indexStage()],
  summary: (ctx) => (ctx.published?.suites ?? []).map((s) => `${s.codename}: ${s.packages} packages, InRelease sha256 ${s.inReleaseSha256}`),
  data: (ctx) => ({ suites: (ctx.published?.suites ?? []).map((s) => ({ codename: s.codename, packages: s.packages, inReleaseSha256: s.inReleaseSha256 })) }),
};
