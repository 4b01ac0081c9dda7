import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FirstBootResultSchema, ProvenanceSchema, parseRecord } from '../../src/machine/provenance-schema.js';
import { firstBootMarker, provenanceRecord } from '../helpers/records.js';

const RECORD = {
  machine: 'web',
  recipe: 'bookworm-minimal',
  recipeHash: 'a'.repeat(64),
  codename: 'bookworm',
  inReleaseSha256: 'b'.repeat(64),
  builtAt: '2026-11-29T00:00:00.000Z',
  backend: 'debootstrap',
  fromBaseCache: false,
};

test('a valid record: known fields kept, unknown ones dropped, absent optional ones stay absent', () => {
  const r = parseRecord(ProvenanceSchema, { ...RECORD, storage: 'overlay', base: 'bookworm-minimal-0123456789abcdef', injected: '$(reboot)' });
  assert.equal(r, { ok: true, record: { ...RECORD, storage: 'overlay', base: 'bookworm-minimal-0123456789abcdef' } });
  const plain = parseRecord(ProvenanceSchema, RECORD);
  assert.ok(plain.ok);
  assert.equal(Object.keys(plain.record).sort(), ['backend', 'builtAt', 'codename', 'fromBaseCache', 'inReleaseSha256', 'machine', 'recipe', 'recipeHash']);
});

test('every wrong field once, in field order, "expected <what>, got <value>"; the overlay rule too', () => {
  const r = parseRecord(ProvenanceSchema, {
    ...RECORD,
    machine: '../x',
    recipeHash: 'A'.repeat(64),
    builtAt: '2026-13-45T99:99:99Z',
    fromBaseCache: 'yes',
    storage: 'overlay',
  });
  assert.equal(r, {
    ok: false,
    problems: [
      'machine: expected a machine name (letters, digits, ".", "_", "-"), got "../x"',
      `recipeHash: expected a sha256 (64 lowercase hex digits), got "${'A'.repeat(64)}"`,
      'builtAt: expected an ISO 8601 UTC time, got "2026-13-45T99:99:99Z"',
      'fromBaseCache: expected true or false, got "yes"',
      'base: expected the base of an overlay machine, got nothing',
    ],
  });
  const missing = parseRecord(ProvenanceSchema, { ...RECORD, backend: undefined, base: 'no-hex' });
  assert.equal(missing, {
    ok: false,
    problems: ['backend: expected "debootstrap" or "mmdebstrap", got nothing', 'base: expected a base directory name ("<recipe>-<16 hex digits>"), got "no-hex"'],
  });
});

test('first-boot marker: status, exit code 0..255, time', () => {
  assert.equal(parseRecord(FirstBootResultSchema, { status: 'failure', exitCode: 7, time: '2026-01-02T03:04:05Z' }), {
    ok: true,
    record: { status: 'failure', exitCode: 7, time: '2026-01-02T03:04:05Z' },
  });
  assert.equal(parseRecord(FirstBootResultSchema, { status: 'done', exitCode: 2.5, time: 'yesterday' }), {
    ok: false,
    problems: ['status: expected "success" or "failure", got "done"', 'exitCode: expected an exit code (an integer 0..255), got 2.5', 'time: expected an ISO 8601 UTC time, got "yesterday"'],
  });
});

test('test fixtures are built through the schema: a bad one fails at construction', () => {
  assert.equal(provenanceRecord({ machine: 'm1' }), { ...RECORD, machine: 'm1', builtAt: '2026-11-29T00:00:00.000Z', fromBaseCache: true });
  assert.is(firstBootMarker({ exitCode: 3, status: 'failure' }), '{"status":"failure","exitCode":3,"time":"2026-11-29T01:02:03Z"}\n');
  assert.throws(() => provenanceRecord({ codename: 'Bookworm' }));
  assert.throws(() => firstBootMarker({ exitCode: 256 }));
});

test.run();
