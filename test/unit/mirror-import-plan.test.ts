import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { planImport, recordedImports, type ListedFile } from '../../src/mirror/import-plan.js';

// The record is keyed "codename<TAB>path" (import-state.ts cacheKey), written out here by hand.
const RECORD = {
  'bookworm\t/a/done.deb': { size: 100, mtimeMs: 1000, ino: 11, pool: 'pool/main/d/done/done_1_amd64.deb' },
  'bookworm\t/a/bad.deb': { size: 5, mtimeMs: 2000, ino: 12, rejected: 'not a Debian package' },
  'bookworm\t/a/lost.deb': { size: 200, mtimeMs: 3000, ino: 13, pool: 'pool/main/l/lost/lost_1_amd64.deb' },
  'bookworm\t/a/trimmed.deb': { size: 300, mtimeMs: 4000, ino: 14, pool: 'pool/main/t/trimmed/trimmed_1_amd64.deb' },
  'bookworm\t/a/touched.deb': { size: 400, mtimeMs: 5000, ino: 15, pool: 'pool/main/t/touched/touched_1_amd64.deb' },
  'trixie\t/a/other.deb': { size: 500, mtimeMs: 6000, ino: 16, pool: 'pool/main/o/other/other_1_amd64.deb' },
};

const listed: ListedFile[] = [
  { file: { path: '/a/done.deb', codename: 'bookworm' }, seen: { size: 100, mtimeMs: 1000, ino: 11 } },
  { file: { path: '/a/gone.deb', codename: 'bookworm' }, seen: undefined },
  { file: { path: '/a/bad.deb', codename: 'bookworm' }, seen: { size: 5, mtimeMs: 2000, ino: 12 } },
  { file: { path: '/a/lost.deb', codename: 'bookworm' }, seen: { size: 200, mtimeMs: 3000, ino: 13 } },
  { file: { path: '/a/trimmed.deb', codename: 'bookworm' }, seen: { size: 300, mtimeMs: 4000, ino: 14 } },
  { file: { path: '/a/touched.deb', codename: 'bookworm' }, seen: { size: 400, mtimeMs: 5001, ino: 15 } },
  { file: { path: '/a/other.deb', codename: 'bookworm', machine: 'web1' }, seen: { size: 500, mtimeMs: 6000, ino: 16 } },
  { file: { path: '/a/new.deb', codename: 'bookworm', openPath: '/a/real/new.deb', realDir: '/a/real' }, seen: { size: 7, mtimeMs: 7000, ino: 17 } },
];

const facts = {
  record: RECORD,
  // lost.deb is listed in its suite but its pool file is gone; trimmed.deb was trimmed from the suite by gc.
  suites: new Map([['bookworm', new Set(['pool/main/d/done/done_1_amd64.deb', 'pool/main/l/lost/lost_1_amd64.deb', 'pool/main/t/touched/touched_1_amd64.deb'])]]),
  inPool: new Set(['pool/main/d/done/done_1_amd64.deb', 'pool/main/t/trimmed/trimmed_1_amd64.deb', 'pool/main/t/touched/touched_1_amd64.deb']),
};

test('the plan: done and trimmed files are unchanged, a recorded rejection is reported again, a lost pool file is repaired', () => {
  assert.equal(planImport(listed, facts), {
    work: [
      { path: '/a/lost.deb', codename: 'bookworm', size: 200, mtimeMs: 3000, ino: 13 },
      { path: '/a/touched.deb', codename: 'bookworm', size: 400, mtimeMs: 5001, ino: 15 },
      { path: '/a/other.deb', codename: 'bookworm', machine: 'web1', size: 500, mtimeMs: 6000, ino: 16 },
      { path: '/a/new.deb', codename: 'bookworm', openPath: '/a/real/new.deb', realDir: '/a/real', size: 7, mtimeMs: 7000, ino: 17 },
    ],
    rejected: [{ file: '/a/bad.deb', reason: 'not a Debian package' }],
    warnings: ['/a/gone.deb: vanished before it could be read'],
    unchanged: 3,
  });
});

test('without the record (force, noCache) every file that is still there is validated again', () => {
  const plan = planImport(listed, { ...facts, record: {} });
  assert.equal(
    plan.work.map((c) => c.path),
    ['/a/done.deb', '/a/bad.deb', '/a/lost.deb', '/a/trimmed.deb', '/a/touched.deb', '/a/other.deb', '/a/new.deb'],
  );
  assert.equal(plan.rejected, []);
  assert.equal(plan.warnings, ['/a/gone.deb: vanished before it could be read']);
  assert.is(plan.unchanged, 0);
});

test('a new inode or size under the same name is another file: validated again, even a recorded rejection', () => {
  const plan = planImport(
    [
      { file: { path: '/a/bad.deb', codename: 'bookworm' }, seen: { size: 5, mtimeMs: 2000, ino: 99 } },
      { file: { path: '/a/done.deb', codename: 'bookworm' }, seen: { size: 101, mtimeMs: 1000, ino: 11 } },
    ],
    facts,
  );
  assert.equal(plan, {
    work: [
      { path: '/a/bad.deb', codename: 'bookworm', size: 5, mtimeMs: 2000, ino: 99 },
      { path: '/a/done.deb', codename: 'bookworm', size: 101, mtimeMs: 1000, ino: 11 },
    ],
    rejected: [],
    warnings: [],
    unchanged: 0,
  });
});

test('the facts the plan needs: the pool paths of recorded imports still describing their file, nothing else', () => {
  assert.equal(recordedImports(RECORD, listed), [
    { codename: 'bookworm', pool: 'pool/main/d/done/done_1_amd64.deb' },
    { codename: 'bookworm', pool: 'pool/main/l/lost/lost_1_amd64.deb' },
    { codename: 'bookworm', pool: 'pool/main/t/trimmed/trimmed_1_amd64.deb' },
  ]);
  assert.equal(recordedImports({}, listed), []);
});

test('a suite not loaded counts as not listing the file (gc trimmed it): unchanged, not repaired', () => {
  const plan = planImport([listed[3]!], { record: RECORD, suites: new Map(), inPool: new Set() });
  assert.equal(plan, { work: [], rejected: [], warnings: [], unchanged: 1 });
});

test.run();
