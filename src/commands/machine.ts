/** `create`, `provision`, `boot`, `run`, `list`, `upgrade`, `rm`, `migrate`. */
import type { ProgramCommand } from './action.js';
import { resolveRecipe } from '../config/recipes.js';
import { createContext, type GlobalOptions } from '../context.js';
import { UsageError, requireRoot } from '../errors.js';
import { printResult, reportError } from './output.js';
import { escapeFields, escapeText, jsonText, neutralizeBlock, safe, writeLines } from '../escape.js';
import { bootMachine, runInMachine } from '../machine/boot.js';
import { assertMachineName, machineNameFor } from '../machine/create.js';
import { formatMachineTable, formatRemoveReport, listMachines, removeMachine } from '../machine/list.js';
import { sweepStaleBuilds } from '../rootfs/builddir.js';
import { runGraph, formatTimings } from '../tasks/runner.js';
import { createStage, machineNameStage, provisionStage, type MachineStageCtx } from '../tasks/machine-stages.js';
import { enterHint } from '../tasks/container.js';

export function registerMachine(program: ProgramCommand, globals: () => GlobalOptions): void {
  program
    .command('create')
    .description('build a container from a recipe and the local mirror (base cache reused when valid)')
    .argument('<recipe>')
    .option('--name <name>', 'machine name (default: the recipe name)')
    .option('--provision', 'also boot it once to run the first-boot script')
    .action(async (recipeName: string, o: { name?: string; provision?: boolean }) => {
      const app = await createContext(globals());
      const recipe = resolveRecipe(app.config, recipeName);
      const name = machineNameFor(o.name, recipe.name);
      if (!app.sh.dryRun) requireRoot('create');
      const ctx: MachineStageCtx = { app, timings: [], recipes: [recipe], recipe, name, checks: [] };
      await runGraph(ctx, [machineNameStage(), createStage(), ...(o.provision ? [provisionStage()] : [])]);
      if (app.opts.json) {
        // The machine built (null when one was already built; in a dry run, what would be built), the plan of a dry run, the stage times.
        const created = ctx.created ?? null;
        printResult(app.opts, { name, recipe: recipe.name, dryRun: app.sh.dryRun, created, existing: ctx.existing && 'reason' in ctx.existing ? ctx.existing.reason : null, planned: app.sh.dryRun ? app.sh.planned : [], timings: ctx.timings }, []);
      } else {
        // Not created: a dry run, or a machine already built from the same recipe and package set.
        const existing = ctx.existing && ctx.existing.state !== 'absent' && ctx.existing.state !== 'stale' ? ctx.existing.reason : undefined;
        const what = app.sh.dryRun ? `(dry run) would be created at ${ctx.created?.root ?? `${app.config.machines.dir}/${name}`}` : (ctx.created?.root ?? existing ?? '?');
        writeLines(process.stdout, [`machine ${name}: ${what}`, ...enterHint(app.config, name), 'time per stage:', ...formatTimings(ctx.timings)]);
      }
    });

  program
    .command('provision')
    .description('boot a machine once, wait for its first-boot result, power it off; exit with the script status')
    .argument('<name>')
    .option('--timeout <seconds>', 'give up after this long', '900')
    .action(async (name: string, o: { timeout: string }) => {
      const app = await createContext(globals());
      assertMachineName(name);
      if (!app.sh.dryRun) requireRoot('provision');
      const timeoutMs = Number(o.timeout) * 1000;
      if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new UsageError(safe`--timeout: "${o.timeout}" is not a number of seconds`);
      const { provisionMachine } = await import('../machine/provision.js');
      const report = await provisionMachine({ sh: app.sh, config: app.config }, name, { timeoutMs, onLine: app.opts.verbose ? app.log : undefined });
      if (app.opts.json) process.stdout.write(`${jsonText(report, 2)}\n`);
      else writeLines(process.stdout, `${safe`first boot of ${name}: ${report.result.status} (exit ${report.result.exitCode})`}${report.booted ? '' : ', already provisioned'}`);
      if (report.result.status !== 'success') {
        // The machine wrote this log: its lines are kept, its control characters are not (under --json it is in the report).
        if (!app.opts.json) process.stderr.write(`first-boot log (tail):\n${neutralizeBlock(report.logTail)}\n`);
        return report.result.exitCode || 1;
      }
    });

  program
    .command('boot')
    .description('boot a machine: machinectl start where systemd runs machined, else systemd-nspawn --boot in the foreground')
    .argument('<name>')
    .action(async (name: string) => {
      const app = await createContext(globals());
      assertMachineName(name);
      if (!app.sh.dryRun) requireRoot('boot');
      const r = await bootMachine({ sh: app.sh, config: app.config }, name);
      if (r.how === 'machinectl') app.log(`started ${name} with machinectl; enter it with: machinectl shell ${name}`);
      // Under --json a foreground boot still attaches the console (it is the machine's); our one document comes last.
      if (app.opts.json) printResult(app.opts, { name, how: r.how, exitCode: r.exitCode, planned: app.sh.dryRun ? app.sh.planned : [] }, []);
      return r.exitCode;
    });

  program
    .command('run')
    .description('run one command inside a machine (not booted); its exit code is passed through')
    .argument('<name>')
    .argument('<command...>', 'the command, after --')
    .action(async (name: string, argv: string[]) => {
      const app = await createContext(globals());
      assertMachineName(name);
      if (!app.sh.dryRun) requireRoot('run');
      // Under --json the command's output is captured into the one document: {name, command, exitCode, stdout, stderr}.
      const r = await runInMachine({ sh: app.sh, config: app.config }, name, argv, { stdio: app.opts.json ? 'pipe' : 'inherit' });
      if (app.opts.json) printResult(app.opts, { name, command: argv, ...r, planned: app.sh.dryRun ? app.sh.planned : [] }, []);
      return r.exitCode;
    });

  program
    .command('list')
    .description('machines built by nspawn-kit: recipe, mirror publication, updates the mirror offers (security ones counted), size, first-boot state')
    .action(async () => {
      const app = await createContext(globals());
      const machines = await listMachines({ sh: app.sh, config: app.config });
      // Recipe, codename and problem come from records on disk: escaped per cell before the table is laid out
      // (the table shows a problem's first line).
      const cells = machines.map((m) => escapeFields({ ...m, problem: m.problem?.split('\n')[0], updateProblems: m.updateProblems?.map(escapeText) }));
      process.stdout.write(app.opts.json ? `${jsonText(machines, 2)}\n` : `${neutralizeBlock(formatMachineTable(cells))}\n`);
    });

  program
    .command('upgrade')
    .description('upgrade a machine (or every machine) from the local mirror, offline: not booted, or inside it while it runs; records the publication in its provenance')
    .argument('[name]')
    .option('--all', 'every machine; one failure does not stop the others')
    .option('--inside', 'also upgrade a running machine without private users from inside (its apt then runs as host root in its namespaces: only for machines you trust)')
    .action(async (name: string | undefined, o: { all?: boolean; inside?: boolean }) => {
      const app = await createContext(globals());
      if (Boolean(o.all) === (name !== undefined)) throw new UsageError('give a machine NAME or --all (not both)');
      if (name !== undefined) assertMachineName(name);
      if (!app.sh.dryRun) requireRoot('upgrade');
      const ctx = { sh: app.sh, config: app.config };
      await sweepStaleBuilds(ctx);
      const { formatUpgrade, upgradeMachine } = await import('../machine/upgrade.js');
      const names = name !== undefined ? [name] : (await listMachines(ctx, { sizes: false, updates: false })).map((m) => m.name);
      const reports: unknown[] = [];
      let failed = 0;
      for (const n of names) {
        try {
          const r = await upgradeMachine(ctx, n, { inside: o.inside === true });
          reports.push(r);
          if (!app.opts.json) writeLines(process.stdout, formatUpgrade(r));
        } catch (err) {
          // --all: the others still run; one machine: the error is the command's.
          if (name !== undefined) throw err;
          failed++;
          reports.push({ name: n, error: err instanceof Error ? err.message : String(err) });
          // "nspawn-kit: NAME: upgrade failed: …", or an error event naming the machine under --json.
          reportError(err, app.opts.json, { machine: n, failed: 'upgrade failed' });
        }
      }
      if (app.opts.json) process.stdout.write(`${jsonText(reports, 2)}\n`);
      else if (names.length === 0) writeLines(process.stdout, 'no machines');
      return failed ? 1 : 0;
    });

  program
    .command('rm')
    .description('remove a machine (refuses a running one), its .nspawn file and leftover mounts')
    .argument('<name>')
    .action(async (name: string) => {
      const app = await createContext(globals());
      assertMachineName(name);
      if (!app.sh.dryRun) requireRoot('rm');
      await sweepStaleBuilds({ sh: app.sh, config: app.config });
      const r = await removeMachine({ sh: app.sh, config: app.config }, name);
      // Without --json: "removed NAME", or under --dry-run "would remove NAME (what)" (the Shell planned each removal on stderr).
      if (app.opts.json) process.stdout.write(`${jsonText(r, 2)}\n`);
      else writeLines(process.stdout, formatRemoveReport(r));
    });

  program
    .command('migrate')
    .description('move an overlay machine of the old layout (its directory held only its changes) to the host-mounted layout')
    .argument('<name>')
    .action(async (name: string) => {
      const app = await createContext(globals());
      assertMachineName(name);
      if (!app.sh.dryRun) requireRoot('migrate');
      const { migrateMachine } = await import('../machine/migrate.js');
      const r = await migrateMachine({ sh: app.sh, config: app.config }, name);
      if (app.opts.json) process.stdout.write(`${jsonText(r, 2)}\n`);
      else writeLines(process.stdout, r.migrated ? safe`migrated ${name}: its changes are in ${r.upper ?? '?'}, mounted at its directory` : safe`${name}: ${r.reason ?? 'nothing to do'}`);
    });
}
