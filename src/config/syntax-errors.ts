/**
 * Where a configuration or recipe file fails to parse, as "line L, column C:
 * reason" (1-based, counted in characters). JSON: V8's message gives only an
 * offset ("... in JSON at position 7"), and cosmiconfig's wrapper puts the
 * reason below a code frame, so the offset is taken from JSON.parse's own
 * message and turned into a line and column here; a comma right before the
 * "}" or "]" it failed at is named (JSON allows no trailing comma). YAML:
 * js-yaml's exception carries the position (mark) and the bare reason.
 */

/** The line and column (1-based) of a character offset in `text`. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, Math.max(0, Math.min(offset, text.length)));
  const lines = before.split('\n');
  return { line: lines.length, column: (lines[lines.length - 1] ?? '').length + 1 };
}

const at = (p: { line: number; column: number }): string => `line ${p.line}, column ${p.column}`;

/** Why `text` is not JSON, with where; undefined when it parses. */
export function jsonSyntaxError(text: string): string | undefined {
  try {
    JSON.parse(text);
    return undefined;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const m = / in JSON at position (\d+)/.exec(message);
    const offset = m ? Number(m[1]) : /end of JSON input/.test(message) ? text.length : undefined;
    const reason = message.replace(/ in JSON at position \d+.*$/s, '').replace(/ \(line \d+ column \d+\)$/, '');
    if (offset === undefined) return reason;
    const prev = /,\s*$/.exec(text.slice(0, offset));
    const trailing = prev && /^[}\]]/.test(text.slice(offset)) ? lineColumn(text, prev.index) : undefined;
    if (trailing) return `${at(trailing)}: a trailing comma before "${text[offset]}" (JSON allows none; remove it)`;
    return `${at(lineColumn(text, offset))}: ${reason}`;
  }
}

/** js-yaml's exception: its mark (0-based) and bare reason. */
function yamlMark(err: unknown): { line: number; column: number; reason: string } | undefined {
  const e = err as { mark?: { line?: unknown; column?: unknown }; reason?: unknown };
  const { line, column } = e.mark ?? {};
  if (typeof line !== 'number' || typeof column !== 'number') return undefined;
  return { line: line + 1, column: column + 1, reason: typeof e.reason === 'string' ? e.reason : 'syntax error' };
}

/**
 * The reason a loader's parse error gives, with its line and column:
 * recomputed for JSON, read from js-yaml's mark for YAML, else the first
 * line of the message after cosmiconfig's "... Error in FILE:" line.
 */
export function syntaxReason(err: unknown, text: string, ext: string): string {
  if (ext === '.json') {
    const why = jsonSyntaxError(text);
    if (why) return why;
  }
  const mark = yamlMark(err);
  if (mark) return `${at(mark)}: ${mark.reason}`;
  const lines = (err instanceof Error ? err.message : String(err)).split('\n').filter((l) => l.trim() !== '');
  const first = lines[0] ?? '';
  return (/^(JSON|YAML|TypeScript) Error in /.test(first) ? lines[1] : first)?.trim() ?? 'unknown error';
}
