/**
 * Where a configuration or recipe file fails to parse, as "line L, column C:
 * reason" (1-based, counted in characters). JSON: V8's message gives an
 * offset only for some errors ("Unexpected token ']', ... is not valid JSON"
 * has none), and cosmiconfig's wrapper puts the reason below a code frame, so
 * the first error is found here by a small scanner of JSON's grammar, run
 * only once the real parser failed; a trailing comma is named as such. YAML:
 * js-yaml's exception carries the position (mark) and the bare reason.
 */

/** The line and column (1-based) of a character offset in `text`. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, Math.max(0, Math.min(offset, text.length)));
  const lines = before.split('\n');
  return { line: lines.length, column: (lines[lines.length - 1] ?? '').length + 1 };
}

const at = (p: { line: number; column: number }): string => `line ${p.line}, column ${p.column}`;

/** The first syntax error of `text` as JSON: its offset and why (RFC 8259's grammar). */
export function firstJsonError(text: string): { offset: number; why: string } | undefined {
  let i = 0;
  const fail = (why: string, at = i): never => {
    throw { offset: at, why };
  };
  const ws = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text[i] as string)) i++;
  };
  const end = (what: string): string => (i >= text.length ? `the file ends where ${what} should be` : `expected ${what}, found ${JSON.stringify(text[i])}`);
  const string = (): void => {
    const start = i++;
    for (;;) {
      if (i >= text.length) fail('a string is not closed (missing \'"\')', start);
      const c = text.charCodeAt(i);
      if (c === 0x22) return void i++;
      if (c < 0x20) fail('a control character (a newline?) inside a string: write it as an escape like \\n');
      if (c === 0x5c) {
        if (/^(["\\/bfnrt]|u[0-9a-fA-F]{4})/.test(text.slice(i + 1, i + 6))) i += text[i + 1] === 'u' ? 6 : 2;
        else fail('an invalid escape in a string');
      } else i++;
    }
  };
  const value = (what: string): void => {
    ws();
    const c = text[i];
    if (c === '{') return container('}', true);
    if (c === '[') return container(']', false);
    if (c === '"') return string();
    const m = /^(-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i));
    if (m && !/^[A-Za-z0-9_$]/.test(text.slice(i + m[0].length))) return void (i += m[0].length);
    fail(end(what));
  };
  const container = (close: string, object: boolean): void => {
    i++;
    ws();
    if (text[i] === close) return void i++;
    for (;;) {
      ws();
      if (object) {
        if (text[i] !== '"') fail(end('a double-quoted key'));
        string();
        ws();
        if (text[i] !== ':') fail(end('":" after the key'));
        i++;
      }
      value('a value');
      ws();
      if (text[i] === close) return void i++;
      if (text[i] !== ',') fail(end(`"," or "${close}"`));
      const comma = i++;
      ws();
      if (text[i] === close) fail(`a trailing comma before "${close}" (JSON allows none; remove it)`, comma);
    }
  };
  try {
    value('a value');
    ws();
    if (i < text.length) fail(`unexpected ${JSON.stringify(text[i])} after the end of the JSON value`);
    return undefined;
  } catch (err) {
    return err as { offset: number; why: string };
  }
}

/** Why `text` is not JSON, with where; undefined when it parses. */
export function jsonSyntaxError(text: string): string | undefined {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const err = firstJsonError(body);
  return err && `${at(lineColumn(body, err.offset))}: ${err.why}`;
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
