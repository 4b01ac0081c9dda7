import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { judge, settle } from '../../src/mirror/import-settle.js';

const admin = { path: '/srv/archive/hello_2.10-3_amd64.deb', codename: 'bookworm', size: 1234, mtimeMs: 1700000000000, ino: 42 };
const machine = { ...admin, path: '/var/lib/machines/web1/var/cache/apt/archives/hello_2.10-3_amd64.deb', machine: 'web1' };
const pkg = { name: 'hello', version: '2.10-3', architecture: 'amd64', source: 'hello', size: 1234, sha256: 'ab'.repeat(32) };
const POOL = 'pool/main/h/hello/hello_2.10-3_amd64.deb';

test('judge: a valid admin file goes on, whatever the trust answer (admins are not screened)', () => {
  assert.equal(judge(admin, { ok: true, pkg }, false), { ok: true, pkg });
});

test("judge: a machine's valid file goes on only when a verified list names its bytes", () => {
  assert.equal(judge(machine, { ok: true, pkg }, true), { ok: true, pkg });
  assert.equal(judge(machine, { ok: true, pkg }, false), {
    kind: 'rejected',
    file: machine.path,
    reason: 'not in any index nspawn-kit verified for bookworm (machine web1)',
    remember: undefined,
    log: `rejected ${machine.path}: not in any index nspawn-kit verified for bookworm (machine web1)`,
  });
});

test('judge: a bad .deb is rejected and remembered with its identity, unless it may pass later (retry)', () => {
  assert.equal(judge(admin, { ok: false, reason: 'dpkg-deb: not a Debian archive' }, true), {
    kind: 'rejected',
    file: admin.path,
    reason: 'dpkg-deb: not a Debian archive',
    remember: { size: 1234, mtimeMs: 1700000000000, ino: 42, rejected: 'dpkg-deb: not a Debian archive' },
    log: `rejected ${admin.path}: dpkg-deb: not a Debian archive`,
  });
  const later = judge({ ...admin, retry: true }, { ok: false, reason: 'no space left on device' }, true);
  assert.equal(later, { kind: 'rejected', file: admin.path, reason: 'no space left on device', remember: undefined, log: `rejected ${admin.path}: no space left on device` });
});

test('settle: imported and present files are listed, recorded by identity and pool path', () => {
  const entry = { file: admin.path, codename: 'bookworm', suites: ['bookworm'], pool: POOL, package: 'hello', version: '2.10-3', architecture: 'amd64' };
  const record = { size: 1234, mtimeMs: 1700000000000, ino: 42, pool: POOL };
  assert.equal(settle(admin, pkg, { status: 'imported', pool: POOL }), { kind: 'ingested', as: 'imported', entry, record });
  assert.equal(settle(admin, pkg, { status: 'present', pool: POOL }), { kind: 'ingested', as: 'alreadyPresent', entry, record });
  // A machine's file goes into the suites whose verified lists name its bytes.
  assert.equal(settle(admin, pkg, { status: 'imported', pool: POOL }, ['bookworm-security']), {
    kind: 'ingested',
    as: 'imported',
    entry: { ...entry, suites: ['bookworm-security'] },
    record,
  });
});

test('settle: conflicts, apt-move skips, changed sources and a full disk', () => {
  assert.equal(settle(admin, pkg, { status: 'conflict', pool: POOL, reason: 'different bytes (pool copy kept)' }), {
    kind: 'conflict',
    conflict: { file: admin.path, codename: 'bookworm', pool: POOL, reason: 'different bytes (pool copy kept)' },
    log: `conflict ${admin.path}: different bytes (pool copy kept)`,
  });
  assert.equal(settle(admin, pkg, { status: 'skipped', pool: POOL, reason: 'apt-move did not place it' }), {
    kind: 'skipped',
    skipped: { file: admin.path, reason: 'apt-move did not place it' },
  });
  assert.equal(settle(admin, pkg, { status: 'changed', pool: POOL, reason: 'changed while read' }), { kind: 'warning', warning: `${admin.path}: changed while read` });
  assert.equal(settle(admin, pkg, { status: 'no-space', pool: POOL, reason: 'not enough space' }), {
    kind: 'rejected',
    file: admin.path,
    reason: 'not enough space',
    remember: undefined,
    log: `not imported ${admin.path}: not enough space`,
  });
});

test.run();
