/**
 * The `nspawn-kit` program (the bin is cli.ts). Subcommands live in
 * src/commands/; an action returns its exit code (or nothing: 0) and main()
 * returns it; errors are mapped to exit codes by exitCodeFor (errors.ts): 0 ok,
 * 1 failure, 2 usage or configuration. Errors are printed through formatError,
 * which escapes every control character of the values in them (escape.ts).
 * main() is an entry point: while it runs, SIGINT/SIGTERM/SIGHUP stop every
 * child process, run the exit hooks (exit-hooks.ts) and end the process.
 */
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { ProgramCommand } from './commands/action.js';
import { registerBasic } from './commands/basic.js';
import { registerMirror } from './commands/mirror.js';
import { registerMachine } from './commands/machine.js';
import { registerTriggers } from './commands/triggers.js';
import type { GlobalOptions } from './context.js';
import { exitCodeFor, formatError, renderMessage } from './errors.js';
import { exitOnSignals, signalInProgress } from './exit-hooks.js';

export { exitCodeFor, formatError };

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

export function buildProgram(): ProgramCommand {
  const program = new ProgramCommand('nspawn-kit')
    .description('Signed local apt mirror + debootstrap + systemd-nspawn containers from recipes')
    .version(pkg.version)
    .option('-c, --config <file>', 'configuration file (default: /etc/nspawn-kit/config.json, or config.json in $NSPAWN_KIT_CONFIG_DIR)')
    .option('-n, --dry-run', 'print every command that would change the system; change nothing')
    .option('-v, --verbose', 'stream command output')
    .option('--json', 'machine-readable output where the command supports it')
    .showHelpAfterError('(run with --help for usage)')
    // Commander's usage errors quote the arguments given (a file name, say): no control character of theirs is printed.
    .configureOutput({ outputError: (text, write) => write(`${renderMessage(text.replace(/\n$/, ''))}\n`) })
    .exitOverride();
  const globals = (): GlobalOptions => program.opts<GlobalOptions>();
  registerBasic(program, globals);
  registerMirror(program, globals);
  registerMachine(program, globals);
  registerTriggers(program, globals);
  const override = (cmd: Command): void => {
    cmd.exitOverride();
    cmd.commands.forEach(override);
  };
  override(program);
  return program;
}

export async function main(argv = process.argv): Promise<number> {
  const program = buildProgram();
  const stopSignals = exitOnSignals();
  try {
    await program.parseAsync(argv);
    return program.outcome.code ?? 0;
  } catch (err) {
    // Commander has printed its own usage error already.
    // Interrupted: the failure is the signal's doing (a killed tool); the handler reports and exits 128 + N.
    if (signalInProgress()) return exitCodeFor(err);
    if (!(err instanceof CommanderError)) process.stderr.write(`nspawn-kit: ${formatError(err)}\n`);
    return exitCodeFor(err);
  } finally {
    stopSignals();
  }
}
