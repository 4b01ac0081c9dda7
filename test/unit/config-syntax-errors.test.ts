/**
 * Where a configuration or recipe file fails to parse: the JSON scanner
 * agrees with JSON.parse on what is valid, and names the first error's line,
 * column and reason (a trailing comma as such); YAML's position comes from
 * js-yaml through cosmiconfig's loader.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { defaultLoaders } from 'cosmiconfig';
import { firstJsonError, jsonSyntaxError, lineColumn, syntaxReason } from '../../src/config/syntax-errors.js';

test('lineColumn counts 1-based lines and columns', () => {
  assert.equal(lineColumn('ab\ncd\n', 0), { line: 1, column: 1 });
  assert.equal(lineColumn('ab\ncd\n', 4), { line: 2, column: 2 });
  assert.equal(lineColumn('ab\ncd\n', 6), { line: 3, column: 1 });
});

test('JSON errors: line, column and reason', () => {
  const cases: Array<[string, string]> = [
    ['{"a":1,}', 'line 1, column 7: a trailing comma before "}" (JSON allows none; remove it)'],
    ['{\n  "a": [1,\n    2,\n  ]\n}', 'line 3, column 6: a trailing comma before "]" (JSON allows none; remove it)'],
    ['{"a" 1}', 'line 1, column 6: expected ":" after the key, found "1"'],
    ["{'a': 1}", 'line 1, column 2: expected a double-quoted key, found "\'"'],
    ['{"a": tru}', 'line 1, column 7: expected a value, found "t"'],
    ['{"a": 1} x', 'line 1, column 10: unexpected "x" after the end of the JSON value'],
    ['{"a": 1 "b": 2}', 'line 1, column 9: expected "," or "}", found "\\""'],
    ['{"a": "x\ny"}', 'line 1, column 9: a control character (a newline?) inside a string: write it as an escape like \\n'],
    ['{"a": "\\q"}', 'line 1, column 8: an invalid escape in a string'],
    ['{"a": "open', 'line 1, column 7: a string is not closed (missing \'"\')'],
    ['{\n  "a": 1,\n', 'line 3, column 1: the file ends where a double-quoted key should be'],
  ];
  for (const [text, want] of cases) {
    assert.throws(() => JSON.parse(text), undefined, text);
    assert.is(jsonSyntaxError(text), want, text);
  }
});

test('the scanner accepts exactly what JSON.parse accepts on valid documents', () => {
  for (const text of ['{}', '[]', '0', '-1.5e+3', '"x"', 'null', ' {"a": {"b": [true, false, null, 1, "\\u00e9\\n\\"\\\\/"]}, "c": []}\n', '[1,\t2,\r\n3]']) {
    JSON.parse(text);
    assert.is(firstJsonError(text), undefined, text);
  }
});

test('syntaxReason: YAML keeps js-yaml line and column; JSON gets the scanner', () => {
  const yaml = 'a: 1\n b: 2\n';
  try {
    (defaultLoaders['.yaml'] as (p: string, c: string) => unknown)('/x/c.yaml', yaml);
    assert.unreachable();
  } catch (err) {
    assert.is(syntaxReason(err, yaml, '.yaml'), 'line 2, column 3: bad indentation of a mapping entry');
  }
  const json = '{"a":1,}';
  try {
    (defaultLoaders['.json'] as (p: string, c: string) => unknown)('/x/c.json', json);
    assert.unreachable();
  } catch (err) {
    assert.is(syntaxReason(err, json, '.json'), 'line 1, column 7: a trailing comma before "}" (JSON allows none; remove it)');
  }
});

test.run();
