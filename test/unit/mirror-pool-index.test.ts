// The pool index schema (src/mirror/pool-index.ts): the record publish signs
// against is believed only when every field is what the importer writes.
// Records are literal, as they appear on disk.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parsePoolIndex } from '../../src/mirror/pool-index.js';

const SHA = 'a'.repeat(64);
const entry = { name: 'hello', version: '1:2.10-3', architecture: 'amd64', source: 'hello', size: 1234, sha256: SHA, mtimeMs: 1764500000123.5 };
const rel = 'pool/main/h/hello/hello_2.10-3_amd64.deb';
const text = (files: Record<string, unknown>, version: unknown = 1) => JSON.stringify({ version, files });

test('a good record parses to itself; gc\'s hashless entry ("") is accepted; unknown entry fields are dropped', () => {
  const gc = { ...entry, name: 'libfoo1', source: 'foo', sha256: '' };
  const r = parsePoolIndex(text({ [rel]: entry, 'pool/main/f/foo/libfoo1_1_all.deb': { ...gc, extra: true } }), '/s/pool-index.json');
  assert.equal(r, { ok: true, index: { version: 1, files: { [rel]: entry, 'pool/main/f/foo/libfoo1_1_all.deb': gc } } });
  assert.equal(parsePoolIndex('{"version":1,"files":{}}\n', 'f'), { ok: true, index: { version: 1, files: {} } });
});

test('not JSON: one problem naming the file', () => {
  const r = parsePoolIndex('{"version":1,"files":{', '/s/pool-index.json');
  assert.is(r.ok, false);
  assert.equal(r.ok ? [] : r.problems.map((p) => p.replace(/ \(.*\)$/, '')), ['/s/pool-index.json: not JSON']);
});

test('every wrong field is named, with the file', () => {
  const bad = (patch: Record<string, unknown>, key = rel) => {
    const r = parsePoolIndex(text({ [key]: { ...entry, ...patch } }), 'F');
    return r.ok ? [] : r.problems;
  };
  assert.equal(bad({ sha256: 'A'.repeat(64) }), [`F: files["${rel}"].sha256: expected a sha256 (64 lowercase hex digits) or "" (got "${'A'.repeat(40)}…")`]);
  assert.equal(bad({ size: -1 }).length, 1);
  assert.match(bad({ size: -1 })[0]!, /^F: files\["pool\/main\/h\/hello\/hello_2.10-3_amd64.deb"\]\.size: Too small: expected number to be >=0 \(got -1\)$/);
  assert.match(bad({ size: '1234' })[0]!, /^F: files\[".*"\]\.size: expected a number, got "1234"$/);
  assert.match(bad({ name: 'Hello' })[0]!, /^F: files\[".*"\]\.name: expected a Debian package name/);
  assert.match(bad({ version: '1.0 evil' })[0]!, /\.version: expected a Debian version/);
  assert.match(bad({ architecture: '' })[0]!, /\.architecture: expected a Debian architecture/);
  assert.match(bad({ mtimeMs: undefined })[0]!, /\.mtimeMs: expected a number, but it is missing$/);
  for (const key of ['pool/../../etc/passwd.deb', '/pool/main/x.deb', 'pool/main//x.deb', 'pool/main/./x.deb', 'pool/main/x.txt', 'dists/x.deb', 'pool/main/x\n.deb']) {
    assert.equal(bad({}, key).length, 1, key);
  }
  assert.equal(bad({}, 'pool/main/h/hello/hello_2.10-3_amd64.deb'), []);
  assert.equal(bad({}, 'pool/extra/..hidden/hand placed.deb'), []);
});

test('a wrong version or shape is refused', () => {
  assert.equal(parsePoolIndex(text({}, 2), 'F'), { ok: false, problems: ['F: version: expected one of 1, got 2'] });
  assert.is(parsePoolIndex('[]', 'F').ok, false);
  assert.is(parsePoolIndex('{"version":1}', 'F').ok, false);
  assert.is(parsePoolIndex('{"version":1,"files":[]}', 'F').ok, false);
});

test('many problems: five shown, the rest counted', () => {
  const files: Record<string, unknown> = {};
  for (let i = 0; i < 8; i++) files[`pool/main/x/x${i}.deb`] = { ...entry, sha256: 'no' };
  const r = parsePoolIndex(text(files), 'F');
  assert.is(r.ok ? 0 : r.problems.length, 6);
  assert.is(r.ok ? '' : r.problems[5], '... and 3 more');
});

test.run();
