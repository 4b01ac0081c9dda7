/** Stages of a container build: create (base cache or bootstrap), provision, checks. */
import type { ListrTask, ListrDefaultRenderer, ListrSimpleRenderer } from 'listr2';
import type { Recipe } from '../config/types.js';
import { OperationError } from '../errors.js';
import { createMachine, ensureBase, type CreateProgress, type CreateReport } from '../machine/create.js';
import { assertRepositoryKeys } from '../machine/key-preflight.js';
import { provisionMachine, type ProvisionReport } from '../machine/provision.js';
import { runInMachine } from '../machine/boot.js';
import { provisionCommand, runCommand } from '../machine/nspawn-argv.js';
import { machineState, type MachineState } from '../machine/uptodate.js';
import { formatProgress } from '../rootfs/backends.js';
import { stage } from './runner.js';
import { exists, formatCommand } from '../shell.js';
import type { MirrorStageCtx } from './stages.js';

type Task<C extends MachineStageCtx> = ListrTask<C, ListrDefaultRenderer, ListrSimpleRenderer>;

export interface MachineStageCtx extends MirrorStageCtx {
  recipe: Recipe;
  name: string;
  created?: CreateReport;
  provisioned?: ProvisionReport;
  checks: { label: string; output: string }[];
  baseHit?: boolean;
  /** The base the base stage ensured, handed to the create stage. */
  base?: Awaited<ReturnType<typeof ensureBase>>;
  /** What was under machines.dir/<name> when the job started: set once by machineNameStage. */
  existing?: MachineState;
}

/**
 * Skip reason of the stages up to create when the machine already is what
 * this run would build (a rerun with the same name; provisioning then runs
 * only if its first boot has not). A pure read of ctx.existing, which
 * machineNameStage computes once per job.
 */
export function upToDate(ctx: MachineStageCtx): string | false {
  const st = ctx.existing;
  return st && (st.state === 'current' || st.state === 'unprovisioned') ? st.reason : false;
}

function progressLine(p: CreateProgress): string {
  return p.counts ? `${p.stage}: ${formatProgress(p.counts)}` : `${p.stage}: ${p.message}`;
}

/** Bootstrap + recipe packages + upgrade into the base cache, or an older base brought up to date (nothing else): tasks/bootstrap.mjs. */
export function baseStage<C extends MachineStageCtx>(): Task<C> {
  return stage<C>('Base root filesystem (bootstrap from the local mirror, or the cache)', async (ctx, task, sh) => {
    const base = await ensureBase({ sh, config: ctx.app.config }, ctx.recipe, (p) => sh.log(progressLine(p)));
    const { ref, hit, derivedFrom } = base;
    ctx.baseHit = hit;
    ctx.base = base;
    if (hit) return `cached (${ref.dir})`;
    return derivedFrom ? `brought ${derivedFrom} up to date from the mirror (${ref.dir})` : `bootstrapped with ${ctx.recipe.bootstrap} (${ref.dir})`;
  });
}

function refuseExisting(ctx: MachineStageCtx, why: string): OperationError {
  return new OperationError(
    `machine ${ctx.name} already exists at ${ctx.app.config.machines.dir}/${ctx.name}, but ${why}`,
    `Remove it (\`nspawn-kit rm ${ctx.name}\`) and run again, or build under another name (--name OTHER).`,
  );
}

/**
 * First of the container graph, before host tools, warm or bootstrap: every
 * repository key file the recipe names is there and holds a public key.
 */
export function repositoryKeysStage<C extends MachineStageCtx>(): Task<C> {
  return stage<C>('Recipe repository keys', async (ctx) => {
    assertRepositoryKeys(ctx.recipe);
    const n = ctx.recipe.repositories.filter((r) => r.key).length;
    return n ? `${n} key file(s) present` : 'none named';
  });
}

/**
 * Before any download or bootstrap: a machine of that name that this run
 * would not rebuild identically is refused now, not after the bootstrap.
 */
export function machineNameStage<C extends MachineStageCtx>(): Task<C> {
  return stage<C>('Machine name (new, up to date, or taken)', async (ctx, _task, sh) => {
    ctx.existing = await machineState({ sh, config: ctx.app.config }, ctx.recipe, ctx.name);
    const reason = upToDate(ctx);
    if (ctx.existing?.state === 'stale') throw refuseExisting(ctx, ctx.existing.why);
    return reason || `${ctx.name} is new`;
  });
}

/**
 * Clone the base, inject the first boot, write .nspawn and provenance, rename
 * into place. Skipped when the machine exists and is what this run would
 * build; refused, saying why, when it exists and differs.
 */
export function createStage<C extends MachineStageCtx>(): Task<C> {
  return stage<C>(
    'Machine: clone, first-boot injection, .nspawn, provenance',
    async (ctx, task, sh) => {
      const { machines } = ctx.app.config;
      if (ctx.existing?.state === 'stale') throw refuseExisting(ctx, ctx.existing.why);
      // Before the base is built or anything downloaded: a missing key would only fail at injection.
      assertRepositoryKeys(ctx.recipe);
      const report = await createMachine({ sh, config: ctx.app.config }, ctx.recipe, ctx.name, {
        onProgress: (p) => sh.log(progressLine(p)),
        settingsDir: machines.settingsDir,
        unitDir: machines.unitDir,
        // A real run resolves again (a cache hit): the base may have been replaced since.
        base: sh.dryRun ? ctx.base : undefined,
      });
      ctx.created = report;
      const base = report.fromBaseCache ? ' (base from cache)' : report.derivedFrom ? ` (base: ${report.derivedFrom} brought up to date)` : '';
      return `${report.root}${base}`;
    },
    { skip: (ctx) => upToDate(ctx) },
  );
}

/** Boot once, wait for the first-boot result, power off; skipped for an up-to-date machine. */
export function provisionStage<C extends MachineStageCtx>(): Task<C> {
  return stage<C>('Provisioning boot (first-boot script)', async (ctx, task, sh) => {
    // The console of a booting container is long: shown with --verbose, else one status line.
    if (sh.dryRun && !(await exists(`${ctx.app.config.machines.dir}/${ctx.name}`))) {
      // Planned for the machine the create stage would make, with its settings file.
      const root = `${ctx.app.config.machines.dir}/${ctx.name}`;
      sh.log(`[dry-run] ${formatCommand(provisionCommand(ctx.app.config, root, ctx.name, 'file'))}   (until the first-boot marker appears)`);
      return 'dry run';
    }
    sh.log('booting; waiting for the first-boot result…');
    const report = await provisionMachine({ sh, config: ctx.app.config }, ctx.created?.handle ?? ctx.name, { onLine: ctx.app.opts.verbose ? (l) => sh.log(l) : undefined });
    ctx.provisioned = report;
    if (report.result.status !== 'success') {
      throw new OperationError(
        `first boot of ${ctx.name} failed with exit code ${report.result.exitCode}\n${report.logTail}`,
        `Read the whole log in ${ctx.app.config.machines.dir}/${ctx.name}/var/log/nspawn-kit-firstboot.log, fix the recipe, then \`nspawn-kit rm ${ctx.name}\` and build again.`,
      );
    }
    return report.booted ? `success (exit ${report.result.exitCode})` : 'already provisioned';
  }, { skip: (ctx) => (ctx.existing?.state === 'current' ? ctx.existing.reason : false) });
}

/** A command run inside the (stopped) machine; its output is kept for the summary. */
export function checkStage<C extends MachineStageCtx>(label: string, argv: string[], skip?: (ctx: C) => string | false): Task<C> {
  return stage<C>(label, async (ctx, _task, sh) => {
    if (sh.dryRun && !(await exists(`${ctx.app.config.machines.dir}/${ctx.name}`))) {
      sh.log(`[dry-run] ${formatCommand(runCommand(ctx.app.config, `${ctx.app.config.machines.dir}/${ctx.name}`, ctx.name, argv, 'file'))}`);
      return 'dry run';
    }
    const r = await runInMachine({ sh, config: ctx.app.config }, ctx.created?.handle ?? ctx.name, argv, { stdio: 'pipe' });
    if (sh.dryRun) return 'dry run';
    const out = (r.stdout.trim().split('\n').at(-1) ?? '').trim();
    if (r.exitCode !== 0) {
      throw new OperationError(`${label} failed (exit ${r.exitCode}):\n${(r.stderr || r.stdout).trim().split('\n').slice(-15).join('\n')}`);
    }
    ctx.checks.push({ label, output: out });
    return out;
  }, { skip });
}

/**
 * First-boot injection alone, into an existing machine (tasks/firstboot-injection.mjs):
 * rewrites sources, hostname, users and the run-once script, e.g. after editing the
 * recipe's steps, so the next `provision` runs them.
 */
export function injectStage<C extends MachineStageCtx>(): Task<C> {
  return stage<C>('First-boot injection (sources, hostname, users, run-once script)', async (ctx, _task, sh) => {
    const { isRunning, machineLaunch } = await import('../machine/boot.js');
    const { injectFirstBoot } = await import('../machine/inject.js');
    const { writeNspawnFiles } = await import('../machine/nspawn-file.js');
    const config = ctx.app.config;
    // An overlay machine is injected through its mounted directory, a whole root.
    const { root, handle } = await machineLaunch({ sh, config }, ctx.name);
    if (await isRunning(config, ctx.name)) throw new OperationError(`machine ${ctx.name} is running`, 'Stop it before injecting a new first boot.');
    const report = await injectFirstBoot({ sh, config }, root, ctx.recipe, ctx.name, { mirrorAccess: { kind: 'bind' } });
    await writeNspawnFiles({ sh, config }, handle, ctx.recipe, { settingsDir: config.machines.settingsDir, unitDir: config.machines.unitDir });
    return `${root} (${ctx.recipe.firstboot}; ${report.written.length} file(s) written)`;
  });
}
