/**
 * Quoting of words for the two places values reach outside zx (shell.ts
 * passes argv and quotes by itself): scripts for /bin/sh or bash that we
 * write, and systemd unit files. Also the one-line rule for line-based
 * settings files. Terminal output is escape.ts's.
 */
import { OperationError } from './errors.js';

/**
 * Values written into line-based settings files (deb822, .nspawn, unit files)
 * must not carry a line break or control character: one would start a new,
 * attacker-chosen setting.
 */
export function assertSingleLine(value: string, what: string): string {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(value)) {
    throw new OperationError(
      `${what} contains a line break or control character: ${JSON.stringify(value)}`,
      'Remove it from the recipe or configuration.',
    );
  }
  return value;
}

/** One word for sh or bash: single-quoted, so nothing inside is expanded. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** Words systemd takes as they are: no space, quote, backslash, "$" or ";" (specifiers are "%" escaped). */
const PLAIN_UNIT_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

/**
 * One word of a unit setting that systemd splits into words with quotes
 * (ReadWritePaths=, ...): "%" doubled so it is not taken as a specifier
 * (systemd.unit(5) "Specifiers"), then `specifiers` (e.g. "%i") appended as
 * they are; double-quoted, with "\" and '"' escaped, unless it is plain.
 * No control character: refused, not escaped.
 */
export function unitWord(value: string, specifiers = ''): string {
  const word = assertSingleLine(value, 'unit argument').replace(/%/g, '%%') + specifiers;
  return PLAIN_UNIT_WORD.test(word) ? word : `"${word.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/**
 * One word of a unit's command line (ExecStart=): as unitWord, and "$"
 * doubled, since systemd expands $VARIABLE and ${VARIABLE} there
 * (systemd.service(5) "Command lines": "use "$$" for a literal dollar sign").
 */
export function systemdWord(value: string, specifiers = ''): string {
  return unitWord(value.replace(/\$/g, '$$$$'), specifiers);
}
