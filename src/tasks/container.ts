/**
 * The whole container graph (tasks/container.mjs) and the main job
 * (tasks/qgis-container.mjs): host tools, mirror dirs, warm, index, base,
 * machine, provisioning boot, checks, summary. Reads like its table of contents.
 */
import type { Config, Recipe } from '../config/types.js';
import type { AppContext } from '../context.js';
import { mirrorLayout } from '../mirror/layout.js';
import { resolveBase } from '../rootfs/base-cache.js';
import { exists, formatCommand } from '../shell.js';
import { bootCommand } from '../machine/nspawn-argv.js';
import { machineNameFor } from '../machine/name.js';
import { baseStage, checkStage, createStage, injectStage, machineNameStage, provisionStage, repositoryKeysStage, upToDate, type MachineStageCtx } from './machine-stages.js';
import type { ScriptFlags, ScriptSpec } from './script.js';
import type { UsageSpec } from './usage.js';
import { indexStage, installToolsStage, mirrorDirsStage, warmStage } from './stages.js';
import { UsageError } from '../errors.js';

/** How to get into the machine, for the closing summary. */
export function enterHint(config: Config, name: string): string[] {
  // The machine's .nspawn file binds the mirror and carries the recipe's settings; the argv is the one `boot` runs.
  const nspawn = formatCommand(bootCommand(config, `${config.machines.dir}/${name}`, name, [], 'file'));
  return config.host.systemdPid1
    ? [`enter:  machinectl start ${name} && machinectl shell ${name}`, `   or:  nspawn-kit boot ${name}`]
    : [`enter:  nspawn-kit run ${name} -- bash -l     (a shell, not booted)`, `boot:   nspawn-kit boot ${name}     (= ${nspawn})`];
}

function loginHint(recipe: Recipe, name: string): string[] {
  if (!recipe.users.length) return [`login:  root is locked; use \`nspawn-kit run ${name} -- passwd root\` to set a password, or add a user with an SSH key to the recipe`];
  return recipe.users.map((u) =>
    u.sshKeys.length
      ? `login:  ${u.name} (uid ${u.uid ?? 'auto'}) with its SSH key`
      : u.password.policy === 'hash'
        ? `login:  ${u.name} with the password whose hash is in the recipe`
        : `login:  ${u.name} has a locked password: set one with \`nspawn-kit run ${name} -- passwd ${u.name}\`, or add sshKeys to the recipe`,
  );
}

export interface ContainerOptions {
  /** Extra checks run inside the machine after provisioning. */
  checks?: { label: string; argv: string[]; skip?: (ctx: MachineStageCtx) => string | false }[];
}

/**
 * Warming is skipped when the machine is already what this run builds, or
 * when the base for this recipe and publication is already cached.
 */
async function baseCached(ctx: MachineStageCtx): Promise<string | false> {
  if (!(await exists(mirrorLayout(ctx.app.config).dists))) return false;
  const current = upToDate(ctx);
  if (current) return current;
  try {
    const ref = await resolveBase(ctx.app.config, ctx.recipe);
    return (await exists(ref.dir)) ? `base cache ${ref.key} is valid for the published mirror: nothing to download` : false;
  } catch {
    return false;
  }
}

function existingProvenance(ctx: MachineStageCtx) {
  return ctx.existing && ctx.existing.state !== 'absent' ? ctx.existing.provenance : undefined;
}

const RECIPE_OPTION = (dflt: string | undefined): [string, string] => ['--recipe NAME', dflt ? `the recipe (default: ${dflt})` : 'the recipe (required)'];
const NAME_OPTION: [string, string] = ['--name NAME', "the machine's name (default: the recipe's name)"];

export function containerSpec(title: string, defaultRecipe: string | undefined, usage: UsageSpec, opts: ContainerOptions = {}): ScriptSpec<MachineStageCtx> {
  return {
    title,
    defaultRecipe,
    extraFlags: ['recipe', 'name'],
    usage: { ...usage, options: usage.options ?? [RECIPE_OPTION(defaultRecipe), NAME_OPTION] },
    makeCtx: (app: AppContext, flags: ScriptFlags, recipe: Recipe | undefined): MachineStageCtx => {
      if (!recipe) throw new UsageError('--recipe NAME is required', 'Name a recipe: `nspawn-kit config --recipes` lists them.');
      return { app, timings: [], recipes: [recipe], recipe, name: machineNameFor(flags.name, recipe.name), checks: [] };
    },
    tasks: () => [
      repositoryKeysStage(),
      installToolsStage(),
      machineNameStage(),
      mirrorDirsStage(),
      { ...warmStage<MachineStageCtx>(), skip: baseCached },
      indexStage({ importArchives: false }),
      { ...baseStage<MachineStageCtx>(), skip: (ctx) => upToDate(ctx) },
      createStage(),
      provisionStage(),
      ...(opts.checks ?? []).map((c) => checkStage<MachineStageCtx>(c.label, c.argv, c.skip)),
    ],
    summary: (ctx) => [
      `machine:  ${ctx.name} at ${ctx.created?.root ?? `${ctx.app.config.machines.dir}/${ctx.name}`}`,
      `recipe:   ${ctx.recipe.name} (${ctx.recipe.codename}, ${ctx.recipe.bootstrap}, first boot via ${ctx.recipe.firstboot})`,
      `mirror:   ${ctx.app.config.mirror.root}, publication InRelease sha256 ${ctx.created?.inReleaseSha256 ?? existingProvenance(ctx)?.inReleaseSha256 ?? '?'}`,
      `base:     ${ctx.created ? (ctx.created.fromBaseCache ? 'from the cache' : 'bootstrapped and cached') : existingProvenance(ctx) ? `not rebuilt: ${ctx.existing?.state === 'current' ? 'up to date' : 'only provisioned'}` : '?'}`,
      ...ctx.checks.map((c) => `check:    ${c.label}: ${c.output}`),
      ...enterHint(ctx.app.config, ctx.name),
      ...loginHint(ctx.recipe, ctx.name),
    ],
    data: (ctx) => ({
      machine: ctx.name,
      root: ctx.created?.root ?? `${ctx.app.config.machines.dir}/${ctx.name}`,
      recipe: ctx.recipe.name,
      codename: ctx.recipe.codename,
      inReleaseSha256: ctx.created?.inReleaseSha256 ?? existingProvenance(ctx)?.inReleaseSha256 ?? null,
      base: ctx.created ? (ctx.created.fromBaseCache ? 'cache' : 'bootstrapped') : existingProvenance(ctx) ? (ctx.existing?.state === 'current' ? 'up-to-date' : 'provisioned-only') : null,
      checks: ctx.checks.map((c) => ({ label: c.label, output: c.output })),
    }),
  };
}

export const container = containerSpec('container', undefined, {
  file: 'tasks/container.mjs',
  about: 'The whole graph for any recipe: host tools, mirror, warm, index, base, machine, provisioning boot.',
});

/** The QGIS check: headless, no display. */
export const QGIS_CHECK = {
  label: 'QGIS works headless (python3 -c "import qgis.core")',
  argv: [
    'env',
    'QT_QPA_PLATFORM=offscreen',
    'XDG_RUNTIME_DIR=/tmp',
    'python3',
    '-c',
    'from qgis.core import Qgis, QgsApplication; app = QgsApplication([], False); app.initQgis(); print("QGIS", Qgis.version()); app.exitQgis()',
  ],
  skip: (ctx: MachineStageCtx): string | false =>
    ctx.recipe.packages.includes('python3-qgis') ? false : `recipe ${ctx.recipe.name} does not install python3-qgis`,
};

export const qgisContainer = containerSpec(
  'qgis-container',
  'qgis',
  {
    file: 'tasks/qgis-container.mjs',
    about: 'The main job: a container in which QGIS works (checked headless), built from the local signed mirror.',
  },
  { checks: [QGIS_CHECK] },
);

export const bootstrap: ScriptSpec<MachineStageCtx> = {
  ...containerSpec('bootstrap', 'bookworm-minimal', {
    file: 'tasks/bootstrap.mjs',
    about: "Bootstraps the recipe's base root filesystem from the local mirror into the base cache.",
    options: [RECIPE_OPTION('bookworm-minimal')],
  }),
  extraFlags: ['recipe'],
  tasks: () => [baseStage()],
  summary: undefined,
  data: undefined,
};

export const firstbootInjection: ScriptSpec<MachineStageCtx> = {
  ...containerSpec('firstboot-injection', 'bookworm-minimal', {
    file: 'tasks/firstboot-injection.mjs',
    about: '(Re)writes sources, hostname, users and the run-once first-boot script into an existing machine.',
    options: [
      ['--name NAME', 'the machine to write into (required)'],
      ['--recipe NAME', "the recipe whose settings are written (default: bookworm-minimal; use the machine's own recipe)"],
    ],
  }),
  makeCtx: (app, flags, recipe) => {
    if (!flags.name) throw new UsageError('--name NAME is required: the machine to write into', '`nspawn-kit list` shows the machines.');
    if (!recipe) throw new UsageError('--recipe NAME is required');
    return { app, timings: [], recipes: [recipe], recipe, name: flags.name, checks: [] };
  },
  tasks: () => [injectStage()],
  summary: undefined,
  data: undefined,
};
