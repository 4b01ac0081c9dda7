/**
 * What the commands print, in one place (the output contract, README "CLI"):
 * stdout carries only the result (one JSON document under --json; JSON lines
 * for the long-running commands), stderr the status lines and the error
 * (`nspawn-kit: …`, or its {"event":"error",…} line under --json).
 */
import type { GlobalOptions } from '../context.js';
import { errorJson, formatError } from '../errors.js';
import { jsonText, neutralizeBlock, writeLines } from '../escape.js';
import { writeEvent } from '../progress.js';

/** The one prefix of every error line the CLI prints. */
export const ERROR_PREFIX = 'nspawn-kit: ';

/** The result: one JSON document under --json (terminal-safe), else lines (an array item is one line, whatever it holds). */
export function printResult(opts: Pick<GlobalOptions, 'json'>, json: unknown, text: string | readonly string[]): void {
  if (opts.json) process.stdout.write(`${jsonText(json, 2)}\n`);
  else writeLines(process.stdout, typeof text === 'string' ? neutralizeBlock(text).split('\n') : text);
}

/** One line of a long-running command's JSON-lines output on stdout: `{"event":NAME,…}`. */
export function printEventLine(event: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(`${jsonText({ event, ...fields })}\n`);
}

/**
 * An error on stderr: `nspawn-kit: MESSAGE` (hint on the next line), or under
 * --json the {"event":"error", error, hint, exitCode[, problems]} line
 * (errorJson). `about` names the machine and what failed when the command goes on (upgrade --all).
 */
export function reportError(err: unknown, json: boolean | undefined, about: { machine?: string; failed?: string } = {}): void {
  if (json) writeEvent('error', { ...(about.machine !== undefined ? { machine: about.machine } : {}), ...errorJson(err) });
  else {
    const what = [about.machine, about.failed].filter((x) => x !== undefined).map((x) => `${x}: `).join('');
    process.stderr.write(`${ERROR_PREFIX}${neutralizeBlock(what)}${formatError(err)}\n`);
  }
}

/** Whether the command line asks for --json (before a `--`: after it, the words are a machine's command's). */
export function wantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).includes('--json');
}
