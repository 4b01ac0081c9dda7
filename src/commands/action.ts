/**
 * Commands whose actions return their exit code. ProgramCommand.action()
 * wraps the handler and keeps the number it returned in `outcome`, which
 * every subcommand (made by createCommand) shares with the program; main()
 * (program.ts) returns it. An action that returns nothing exits 0.
 */
import { Command } from 'commander';

/** What an action returns: its exit code, or nothing for 0. */
export type ActionResult = number | void;

export class ProgramCommand extends Command {
  outcome: { code?: number } = {};
  /** How the program prints (shared like outcome): main() sets json from the command line before parsing. */
  output: { json: boolean } = { json: false };

  override createCommand(name?: string): ProgramCommand {
    const cmd = new ProgramCommand(name);
    cmd.outcome = this.outcome;
    cmd.output = this.output;
    return cmd;
  }

  override action(fn: (this: this, ...args: never[]) => ActionResult | Promise<ActionResult>): this {
    const outcome = this.outcome;
    return super.action(async function (this: ProgramCommand, ...args: unknown[]) {
      const code = await fn.apply(this as never, args as never[]);
      if (typeof code === 'number') outcome.code = code;
    });
  }
}
