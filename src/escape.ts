/**
 * Output that cannot be forged. File names, package fields, dpkg's and a
 * machine's messages are untrusted: a name with a newline could print a fake
 * log line, an ESC or an 8-bit CSI (U+009B) could drive the terminal, a bidi
 * override could reorder what the reader sees. Everything printed goes through
 * one of these:
 *
 * - escapeText(value): one untrusted value, every unsafe character and the
 *   backslash itself made visible (so "\n" in a name and a real newline differ);
 * - safe`...${value}...`: a line of our own text with escaped values;
 * - neutralizeLine(line) at the sinks (log, listr2 output, stdout/stderr
 *   writers): whatever a caller built, no unsafe character gets through and the
 *   line stays one line. Backslashes are kept there, so a dry-run command
 *   (zx quotes a newline as $'\n') stays copy-pasteable;
 * - jsonText(value): JSON that is also safe on a terminal.
 *
 * The escapes are those of JSON (\n, \r, \t, \uXXXX): valid inside a JSON string
 * and in bash's $'...', so a sink may neutralize a JSON line without breaking it.
 */

/** C0 and C1 controls and DEL (\p{Cc}), bidi controls, line and paragraph separators. */
const UNSAFE = /[\p{Cc}\p{Bidi_Control}\u2028\u2029]/gu;
const UNSAFE_OR_BACKSLASH = /[\\\p{Cc}\p{Bidi_Control}\u2028\u2029]/gu;
const SHORT: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function visible(ch: string): string {
  return SHORT[ch] ?? `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/** One untrusted value for a line of output: unsafe characters and backslashes escaped. */
export function escapeText(value: unknown): string {
  return String(value).replace(UNSAFE_OR_BACKSLASH, visible);
}

/** A line that may mix our text and values: no unsafe character, no line break; backslashes kept. */
export function neutralizeLine(line: string): string {
  return line.replace(UNSAFE, visible);
}

/** Text whose line breaks are ours (a multi-line error, a report): each line neutralized, breaks kept. */
export function neutralizeBlock(text: string): string {
  return text.split('\n').map(neutralizeLine).join('\n');
}

/** A record for a table: each string field through escapeText (so a cell never holds a line break). */
export function escapeFields<T extends object>(record: T): T {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, typeof v === 'string' ? escapeText(v) : v])) as T;
}

/** Tagged template: our text verbatim, every interpolated value through escapeText. */
export function safe(strings: TemplateStringsArray, ...values: unknown[]): string {
  return strings.reduce((out, s, i) => out + (i > 0 ? escapeText(values[i - 1]) : '') + s, '');
}

/**
 * JSON.stringify, plus \u escapes for what it leaves raw (DEL, C1 controls,
 * bidi controls, U+2028/2029). Those only occur inside strings, so the text is
 * still valid JSON and JSON.parse gives back the exact values. (A raw newline
 * is never inside a string: it is the layout of `space`.)
 */
export function jsonText(value: unknown, space?: number): string {
  return (JSON.stringify(value, null, space) ?? 'null').replace(UNSAFE, (ch) => (ch === '\n' ? ch : visible(ch)));
}

/** Writes lines to a stream, each neutralized (a line break inside one is escaped, not printed). */
export function writeLines(stream: NodeJS.WritableStream, lines: string | readonly string[]): void {
  const all = typeof lines === 'string' ? [lines] : lines;
  stream.write(all.map((l) => `${neutralizeLine(l)}\n`).join(''));
}

/** The default log sink: one neutralized line on stderr. */
export function logToStderr(line: string): void {
  writeLines(process.stderr, line);
}
