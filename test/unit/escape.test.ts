import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { escapeFields, escapeText, jsonText, neutralizeBlock, neutralizeLine, safe } from '../../src/escape.js';

// Every class that must never reach a terminal raw, with the escape it gets.
const CLASSES: [string, string, string][] = [
  ['newline', '\n', '\\n'],
  ['carriage return', '\r', '\\r'],
  ['tab', '\t', '\\t'],
  ['NUL', '\0', '\\u0000'],
  ['ESC', '\x1b', '\\u001b'],
  ['BEL', '\x07', '\\u0007'],
  ['unit separator', '\x1f', '\\u001f'],
  ['DEL', '\x7f', '\\u007f'],
  ['C1 PAD', '\u0080', '\\u0080'],
  ['C1 NEL', '\u0085', '\\u0085'],
  ['8-bit CSI', '\u009b', '\\u009b'],
  ['C1 APC', '\u009f', '\\u009f'],
  ['line separator', '\u2028', '\\u2028'],
  ['paragraph separator', '\u2029', '\\u2029'],
  ['LRE', '\u202a', '\\u202a'],
  ['RLO', '\u202e', '\\u202e'],
  ['LRI', '\u2066', '\\u2066'],
  ['PDI', '\u2069', '\\u2069'],
  ['RLM', '\u200f', '\\u200f'],
  ['Arabic letter mark', '\u061c', '\\u061c'],
];

for (const [name, ch, shown] of CLASSES) {
  test(`escapeText: ${name} becomes ${shown}`, () => {
    assert.is(escapeText(`a${ch}b`), `a${shown}b`);
    assert.is(neutralizeLine(`a${ch}b`), `a${shown}b`);
  });
}

test('escapeText escapes the backslash, so a literal "\\n" in a name differs from a newline', () => {
  assert.is(escapeText('a\\nb'), 'a\\\\nb');
  assert.is(escapeText('a\nb'), 'a\\nb');
  assert.is.not(escapeText('a\\nb'), escapeText('a\nb'));
});

test('escapeText leaves printable text alone, Unicode letters included', () => {
  const text = 'libfoo_1.2-3+b1~rc_amd64.deb: Ünïcödé 名前 "quoted" $(x) `y` 100% 🚀';
  assert.is(escapeText(text), text);
});

test('escaped text is a JSON string body: decoding gives back the original', () => {
  const hostile = 'evil\n[ok] imported evil\x1b[2J\u009b31m\u202eab\\x1b\u2028\t\r\x7f\u0085';
  const escaped = escapeText(hostile);
  assert.not.match(escaped, /[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/);
  assert.is(JSON.parse(`"${escaped.replace(/"/g, '\\"')}"`), hostile);
});

test('neutralizeLine keeps backslashes (a dry-run command stays copy-pasteable) and is idempotent', () => {
  assert.is(neutralizeLine("cp -- $'a\\nb' /x"), "cp -- $'a\\nb' /x");
  const once = neutralizeLine('x\x1b[2J\ny\u009b');
  assert.is(once, 'x\\u001b[2J\\ny\\u009b');
  assert.is(neutralizeLine(once), once);
});

test('neutralizeBlock keeps our line breaks and neutralizes inside each line', () => {
  assert.is(neutralizeBlock('first\x1b[31m\n  second\r'), 'first\\u001b[31m\n  second\\r');
});

test('safe`` escapes the values, not the template', () => {
  const file = '/a/evil\n[ok] imported evil.deb';
  assert.is(safe`  rejected: ${file}: ${'bad\x1b'}\n`, '  rejected: /a/evil\\n[ok] imported evil.deb: bad\\u001b\n');
  assert.is(safe`${1} of ${2}`, '1 of 2');
});

test('escapeFields escapes the string fields of a record and leaves the rest', () => {
  assert.equal(escapeFields({ name: 'a\nb', size: 3, ok: true, note: 'x\u009b' }), { name: 'a\\nb', size: 3, ok: true, note: 'x\\u009b' });
});

test('jsonText: C1, DEL, separators and bidi become \\u escapes; the JSON round-trips exactly', () => {
  const value = { file: '/a/e\u009b2J\u202e\u2028\x7f\x1b\n.deb', nested: ['\u0085', 'plain'] };
  for (const space of [undefined, 2]) {
    const text = jsonText(value, space);
    assert.ok(/^[\x20-\x7e\n]*$/.test(text), `only printable ASCII and layout newlines: ${text}`);
    assert.equal(JSON.parse(text), value);
  }
  assert.is(jsonText({ f: '\u009b' }), '{"f":"\\u009b"}');
  assert.is(jsonText('a\nb'), '"a\\nb"');
  assert.is(jsonText(undefined), 'null');
});

test('a JSON line survives neutralizeLine unchanged in meaning (sinks may neutralize JSON lines)', () => {
  const value = { file: 'x\u009by\x7f\\z' };
  const line = JSON.stringify(value);
  assert.equal(JSON.parse(neutralizeLine(line)), value);
  assert.ok(/^[\x20-\x7e]*$/.test(neutralizeLine(line)));
});

test.run();
