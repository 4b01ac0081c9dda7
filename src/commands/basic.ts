/** `config` and `doctor`. */
import type { ProgramCommand } from './action.js';
import { ConfigError } from '../errors.js';
import { jsonText, neutralizeBlock } from '../escape.js';
import { loadRecipeDefs, resolveAllRecipes, resolveRecipe } from '../config/recipes.js';
import { createContext, type GlobalOptions } from '../context.js';
import { fixHost, formatDoctor, runDoctor } from '../host/doctor.js';
import { outputSinks } from '../progress.js';
import { Shell } from '../shell.js';

export function registerBasic(program: ProgramCommand, globals: () => GlobalOptions): void {
  program
    .command('config')
    .description('print the resolved configuration (or one recipe) as JSON, or every problem in it')
    .option('--recipe <name>', 'print this recipe, resolved (extends, defaults, upstream)')
    .option('--recipes', 'print every recipe, resolved')
    .action(async (o: { recipe?: string; recipes?: boolean }) => {
      const ctx = await createContext(globals());
      let out: unknown;
      if (o.recipe) out = resolveRecipe(ctx.config, o.recipe);
      else if (o.recipes) out = resolveAllRecipes(ctx.config);
      else {
        // Validate every recipe too, so `config` reports all problems at once.
        const defs = loadRecipeDefs(ctx.config);
        const problems: string[] = [];
        for (const name of defs.keys()) {
          try {
            resolveRecipe(ctx.config, name, defs);
          } catch (err) {
            if (err instanceof ConfigError) problems.push(...err.problems);
            else throw err;
          }
        }
        if (problems.length) throw new ConfigError(problems);
        out = { ...ctx.config, recipes: Object.fromEntries([...defs].map(([n, d]) => [n, d.source])) };
      }
      process.stdout.write(`${jsonText(out, 2)}\n`);
    });

  program
    .command('doctor')
    .description('check host tools (found, version, what needs them), root, and whether systemd is PID 1')
    .option('--fix', 'install missing tools with apt-get (root)')
    .option('--required-only', 'with --fix: skip optional tools (mmdebstrap, apt-move, lz4)')
    .action(async (o: { fix?: boolean; requiredOnly?: boolean }) => {
      const g = globals();
      // No configuration is read (doctor runs before there is one): only the output sinks of --json.
      const sh = new Shell({ dryRun: g.dryRun, verbose: g.verbose, ...outputSinks({ json: g.json }) });
      let report = await runDoctor(sh);
      if (o.fix) {
        const installed = await fixHost(sh, report, !o.requiredOnly);
        if (installed.length && !sh.dryRun) report = await runDoctor(sh);
      }
      if (g.json) process.stdout.write(`${jsonText(report, 2)}\n`);
      else process.stdout.write(`${neutralizeBlock(formatDoctor(report))}\n`);
      return report.missingRequired.length && !sh.dryRun ? 1 : 0;
    });
}
