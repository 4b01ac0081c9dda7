/**
 * Small typed errors, mapped to exit codes in one place (exitCodeFor).
 * Every error says what went wrong and, where we know it, what to do next.
 * formatError is the one renderer: messages carry file names and tools'
 * output, so no control character of theirs reaches the terminal (escape.ts).
 */
import { CommanderError } from 'commander';
import { neutralizeBlock, neutralizeLine } from './escape.js';

export class NspawnKitError extends Error {
  /** Process exit code when this error ends the CLI. */
  readonly exitCode: number = 1;
  constructor(
    message: string,
    /** What the user can do about it, printed after the message. */
    readonly hint?: string,
  ) {
    super(message);
    this.name = new.target.name;
  }

  /** The message for a terminal (formatError adds the hint). */
  render(): string {
    return renderMessage(this.message);
  }
}

/** Bad configuration or recipe: every problem at once, exit 2, nothing written. */
export class ConfigError extends NspawnKitError {
  override readonly exitCode = 2;
  constructor(
    readonly problems: string[],
    hint = 'Fix the configuration and run again; `nspawn-kit config` shows the resolved result.',
  ) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`, hint);
  }

  /** One line per problem, even when a problem quotes a value with a newline. */
  override render(): string {
    return ['invalid configuration:', ...this.problems.map((p) => `  - ${neutralizeLine(p)}`)].join('\n');
  }
}

/** Wrong command-line usage: exit 2. */
export class UsageError extends NspawnKitError {
  override readonly exitCode = 2;
}

/** A command that failed: carries the copy-pasteable command line and the tail of stderr. */
export class CommandError extends NspawnKitError {
  constructor(
    readonly command: string,
    readonly commandExitCode: number | null,
    readonly stderrTail: string,
    hint?: string,
  ) {
    super(CommandError.text(command, commandExitCode, stderrTail, (x) => x), hint);
  }

  private static text(command: string, code: number | null, stderrTail: string, line: (s: string) => string): string {
    const status = code === null ? 'was killed by a signal' : `exited with ${code}`;
    const tail = stderrTail.trim() ? `\n${indent(stderrTail.trim().split('\n').map(line).join('\n'))}` : '';
    return `command ${status}: ${line(command)}${tail}`;
  }

  /** The command on one line, then the stderr tail line by line. */
  override render(): string {
    return CommandError.text(this.command, this.commandExitCode, this.stderrTail, neutralizeLine);
  }
}

/** Host tools are missing, or we are not root where root is needed. */
export class PreflightError extends NspawnKitError {}

/** Anything else that failed for a reason we understand (mirror, build, boot). */
export class OperationError extends NspawnKitError {}

export function requireRoot(what: string): void {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new PreflightError(`${what} needs root`, `Run it again as root, e.g. with sudo.`);
  }
}

/** The one mapping from an error to the process exit code (the CLI, the zx task entry and the hooks use it). */
export function exitCodeFor(err: unknown): number {
  // Commander's own: --help and --version end with 0, usage errors with 2.
  if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
  return err instanceof NspawnKitError ? err.exitCode : 1;
}

/**
 * A message of one or more lines for a terminal: no control character, and
 * only the first line starts at column 0. Continuation lines (a tool's output
 * tail, a list of problems) are indented, and so is a line that a newline in
 * a quoted value would start: it cannot pass for a line of its own.
 */
export function renderMessage(message: string): string {
  const [first = '', ...rest] = message.split('\n');
  return [neutralizeLine(first), ...rest.map((l) => neutralizeLine(l === '' || /^\s/.test(l) ? l : `  ${l}`))].join('\n');
}

/** An error for the terminal: our line breaks kept, every control character of the values escaped. */
export function formatError(err: unknown): string {
  if (err instanceof NspawnKitError) {
    return err.hint ? `${err.render()}\n  → ${renderMessage(err.hint)}` : err.render();
  }
  if (err instanceof Error) {
    // "Name: message" (a system error quotes the path) on one line, then the stack frames.
    const head = String(err);
    const stack = err.stack ?? head;
    return stack.startsWith(head) ? neutralizeLine(head) + neutralizeBlock(stack.slice(head.length)) : renderMessage(stack);
  }
  return renderMessage(String(err));
}

export function indent(text: string, prefix = '    '): string {
  return text
    .split('\n')
    .map((l) => prefix + l)
    .join('\n');
}

/** Last `lines` lines of a text, for error messages. */
export function tail(text: string, lines = 15): string {
  const all = text.replace(/\s+$/, '').split('\n');
  return all.slice(-lines).join('\n');
}

/**
 * An error as the JSON object `--json` prints on stderr (progress.ts writes it
 * as the last event line): the message without terminal rendering (JSON
 * escapes it), the hint, the exit code, and a configuration's problems one by one.
 */
const USAGE_HINT = 'Run with --help for usage.';

export function errorJson(err: unknown): { error: string; hint?: string; exitCode: number; problems?: string[] } {
  const exitCode = exitCodeFor(err);
  if (err instanceof ConfigError) return { error: err.message, hint: err.hint, exitCode, problems: err.problems };
  // A usage error without a hint of its own gets the one commander's usage errors have.
  if (err instanceof UsageError) return { error: err.message, hint: err.hint ?? USAGE_HINT, exitCode };
  if (err instanceof NspawnKitError) return { error: err.message, hint: err.hint, exitCode };
  if (err instanceof CommanderError) {
    // help() shown for a missing command carries no message of its own.
    const error = err.code === 'commander.help' ? 'no command given' : err.message.replace(/^error: /, '');
    return { error, hint: USAGE_HINT, exitCode };
  }
  return { error: err instanceof Error ? String(err) : String(err), exitCode };
}
