/**
 * The `nspawn-kit` program (the bin is cli.ts). Subcommands live in
 * src/commands/; an action returns its exit code (or nothing: 0) and main()
 * returns it; errors are mapped to exit codes by exitCodeFor (errors.ts): 0 ok,
 * 1 failure, 2 usage or configuration. Errors are printed through formatError,
 * which escapes every control character of the values in them (escape.ts),
 * after the one prefix "nspawn-kit: "; under --json an error is one
 * {"event":"error",…} line on stderr instead (commands/output.ts), commander's
 * usage errors included. Every command's --help shows the global options, its
 * examples and the exit status (commands/help.ts).
 * main() is an entry point: while it runs, SIGINT/SIGTERM/SIGHUP stop every
 * child process, run the exit hooks (exit-hooks.ts) and end the process.
 */
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { neutralizeBlock } from './escape.js';
import { ProgramCommand } from './commands/action.js';
import { registerBasic } from './commands/basic.js';
import { registerMirror } from './commands/mirror.js';
import { registerMachine } from './commands/machine.js';
import { registerTriggers } from './commands/triggers.js';
import type { GlobalOptions } from './context.js';
import { exitCodeFor, formatError, renderMessage } from './errors.js';
import { exitOnSignals, signalInProgress } from './exit-hooks.js';
import { addCommandHelp } from './commands/help.js';
import { ERROR_PREFIX, reportError, wantsJson } from './commands/output.js';

export { exitCodeFor, formatError, reportError, wantsJson };

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

export function buildProgram(): ProgramCommand {
  const program = new ProgramCommand('nspawn-kit')
    .description('Signed local apt mirror + debootstrap + systemd-nspawn containers from recipes')
    .version(pkg.version)
    .option('-c, --config <file>', 'configuration file (default: /etc/nspawn-kit/config.json, or config.json in $NSPAWN_KIT_CONFIG_DIR)')
    .option('-n, --dry-run', 'print every command that would change the system; change nothing')
    .option('-v, --verbose', 'stream command output')
    .option('--json', 'machine-readable output: one JSON document on stdout (JSON lines for daemon, watch, schedule, mirror serve), errors as a JSON event line on stderr')
    .showHelpAfterError('(run with --help for usage)')
    .configureHelp({ showGlobalOptions: true })
    .configureOutput({
      // Commander's usage errors quote the arguments given (a file name, say): no control character of theirs is printed.
      // Its "error: " becomes the one prefix of the CLI; under --json main() prints the error as a JSON line instead.
      outputError: (text, write) => {
        if (!program.output.json) write(`${renderMessage(text.replace(/\n$/, '').replace(/^error: /, ERROR_PREFIX))}\n`);
      },
      // Under --json nothing but JSON lines goes to stderr: not the usage shown after an error.
      writeErr: (text) => {
        if (!program.output.json) process.stderr.write(neutralizeBlock(text));
      },
    })
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
  addCommandHelp(program);
  return program;
}

export async function main(argv = process.argv): Promise<number> {
  const program = buildProgram();
  // Known before commander parses anything, so that its own usage errors are JSON too.
  program.output.json = wantsJson(argv.slice(2));
  const stopSignals = exitOnSignals({ json: program.output.json });
  try {
    await program.parseAsync(argv);
    return program.outcome.code ?? 0;
  } catch (err) {
    // Interrupted: the failure is the signal's doing (a killed tool); the handler reports and exits 128 + N.
    if (signalInProgress()) return exitCodeFor(err);
    // Without --json, commander has printed its own usage error already; --help and --version are no error.
    const commanderDone = err instanceof CommanderError && (!program.output.json || exitCodeFor(err) === 0);
    if (!commanderDone) reportError(err, program.output.json);
    return exitCodeFor(err);
  } finally {
    stopSignals();
  }
}
