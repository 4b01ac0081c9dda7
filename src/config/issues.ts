/**
 * Turns zod issues into "file: key.path[2]: what was expected" lines, with a
 * did-you-mean for unknown keys (the known keys come from the schema itself).
 */
import type { z } from 'zod';

type AnySchema = z.core.$ZodType;
type Def = { type: string; shape?: Record<string, AnySchema>; innerType?: AnySchema; element?: AnySchema; valueType?: AnySchema; options?: AnySchema[]; in?: AnySchema };

function defOf(s: AnySchema): Def {
  return (s as unknown as { _zod: { def: Def } })._zod.def;
}

/** The keys an object accepts at `path` inside `schema` (empty when unknown). */
export function knownKeysAt(schema: AnySchema, path: PropertyKey[]): string[] {
  let nodes: AnySchema[] = [schema];
  const unwrap = (list: AnySchema[]): AnySchema[] =>
    list.flatMap((s) => {
      const d = defOf(s);
      if (d.innerType && ['optional', 'default', 'prefault', 'nullable', 'readonly', 'catch'].includes(d.type)) return unwrap([d.innerType]);
      if (d.type === 'pipe' && d.in) return unwrap([d.in]);
      if (d.type === 'union' && d.options) return unwrap(d.options);
      return [s];
    });
  for (const key of path) {
    nodes = unwrap(nodes).flatMap((s) => {
      const d = defOf(s);
      if (d.type === 'object' && d.shape && typeof key === 'string') return d.shape[key] ? [d.shape[key]] : [];
      if (d.type === 'array' && d.element && typeof key === 'number') return [d.element];
      if (d.type === 'record' && d.valueType) return [d.valueType];
      return [];
    });
  }
  return [...new Set(unwrap(nodes).flatMap((s) => Object.keys(defOf(s).shape ?? {})))];
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && /^[A-Za-z_$][\w$]*$/.test(key)) out += out ? `.${key}` : key;
    else out += `[${quoteValue(String(key))}]`;
  }
  return out || '(top level)';
}

export function levenshtein(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0] ?? 0;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j] ?? 0;
      prev[j] = Math.min((prev[j] ?? 0) + 1, (prev[j - 1] ?? 0) + 1, diag + (a[i - 1]?.toLowerCase() === b[j - 1]?.toLowerCase() ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length] ?? 0;
}

export function didYouMean(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestScore = Infinity;
  for (const c of candidates) {
    const d = levenshtein(word, c);
    if (d < bestScore) [best, bestScore] = [c, d];
  }
  return best !== undefined && bestScore <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

/** A string quoted for a message: control characters escaped, so a value cannot forge a line. */
export function quoteValue(v: string): string {
  // eslint-disable-next-line no-control-regex
  return JSON.stringify(v).replace(/[\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return quoteValue(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  return String(v);
}

function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = data;
  for (const k of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[k as string];
  }
  return cur;
}

const ARTICLE: Record<string, string> = { array: 'an array', object: 'an object', integer: 'an integer' };

/** One line per problem, each prefixed with `where` (a file name or "<embedded>"). */
export function formatIssues(where: string, schema: AnySchema, data: unknown, issues: readonly z.core.$ZodIssue[], prefix: PropertyKey[] = []): string[] {
  const lines: string[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    const at = `${where}: ${formatPath(path)}`;
    const got = valueAt(data, issue.path);
    switch (issue.code) {
      case 'unrecognized_keys':
        for (const key of issue.keys) {
          const hint = didYouMean(key, knownKeysAt(schema, issue.path));
          lines.push(`${where}: ${formatPath([...path, key])}: unknown key${hint ? ` (did you mean "${hint}"?)` : ''}`);
        }
        break;
      case 'invalid_type': {
        const expected = String(issue.expected);
        const noun = ARTICLE[expected] ?? `a ${expected}`;
        lines.push(`${at}: expected ${noun}${got === undefined ? ', but it is missing' : `, got ${describeValue(got)}`}`);
        break;
      }
      case 'invalid_value':
        lines.push(`${at}: expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, got ${describeValue(got)}`);
        break;
      case 'invalid_key': {
        const inner = issue.issues[0]?.message ?? issue.message;
        lines.push(`${at}: invalid name: ${inner}`);
        break;
      }
      case 'invalid_union': {
        const disc = (issue as { note?: string }).note;
        lines.push(`${at}: ${disc ?? 'does not match any allowed form'} (got ${describeValue(got)})`);
        break;
      }
      default:
        lines.push(`${at}: ${issue.message}${got !== undefined && typeof got !== 'object' ? ` (got ${describeValue(got)})` : ''}`);
    }
  }
  return lines;
}
