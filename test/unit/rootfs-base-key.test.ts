// rootfs/base-key.ts: the base key over the publications of every suite of a recipe (pure parts);
// machine/base-build.ts notUpgraded and machine/base-refresh.ts's record schema.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { baseKey, indexDigestOf, publicationDigest } from '../../src/rootfs/base-key.js';
import { notUpgraded } from '../../src/machine/base-build.js';
import { BaseRecordSchema } from '../../src/machine/base-refresh.js';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const C = 'c'.repeat(64);

test('publication digest: a release-only recipe keeps the release index digest (its key is unchanged)', () => {
  assert.is(publicationDigest([{ suite: 'bookworm', indexDigest: A }]), A);
  // The formula of before the update suites: printf '%s\n%s\n' 111…1 aaa…a | sha256sum | cut -c1-16
  assert.is(baseKey({ baseHash: '1'.repeat(64) }, publicationDigest([{ suite: 'bookworm', indexDigest: A }])), sha(`${'1'.repeat(64)}\n${A}\n`).slice(0, 16));
});

test('publication digest of three suites: one "<suite> <digest>" line each, in the recipe order', () => {
  const pubs = [
    { suite: 'bookworm', indexDigest: A },
    { suite: 'bookworm-updates', indexDigest: B },
    { suite: 'bookworm-security', indexDigest: C },
  ];
  assert.is(publicationDigest(pubs), sha(`bookworm ${A}\nbookworm-updates ${B}\nbookworm-security ${C}\n`));
  // A new package in the security suite alone changes it; so does a digest moved to another suite.
  assert.is.not(publicationDigest([pubs[0]!, pubs[1]!, { suite: 'bookworm-security', indexDigest: A }]), publicationDigest(pubs));
  assert.is.not(publicationDigest([pubs[0]!, { suite: 'bookworm-updates', indexDigest: C }, { suite: 'bookworm-security', indexDigest: B }]), publicationDigest(pubs));
});

test('index digest: the SHA256 lines only, so a date-only re-signing keeps it', () => {
  const body = (date: string, hash: string) => `Origin: nspawn-kit\nSuite: bookworm-security\nDate: ${date}\nValid-Until: ${date}\nSHA256:\n ${hash} 1234 main/binary-amd64/Packages\n`;
  assert.is(indexDigestOf(body('Sat, 28 Nov 2026 03:17:00 UTC', A)), indexDigestOf(body('Sun, 29 Nov 2026 03:17:00 UTC', A)));
  assert.is(indexDigestOf(body('Sat, 28 Nov 2026 03:17:00 UTC', A)), sha(`${A} 1234 main/binary-amd64/Packages`));
  assert.is.not(indexDigestOf(body('Sat, 28 Nov 2026 03:17:00 UTC', A)), indexDigestOf(body('Sat, 28 Nov 2026 03:17:00 UTC', B)));
});

test('notUpgraded reads the last apt summary line', () => {
  const out = [
    '0 upgraded, 3 newly installed, 0 to remove and 0 not upgraded.',
    'Calculating upgrade...',
    '2 upgraded, 1 newly installed, 0 to remove and 4 not upgraded.',
  ].join('\n');
  assert.is(notUpgraded(out), 4);
  assert.is(notUpgraded('5 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n'), 0);
  assert.is(notUpgraded('E: something\n'), 0);
});

test('base record: strict, every value checked', () => {
  const good = { version: 1, recipe: 'web', baseHash: A, key: '0123456789abcdef', suites: { bookworm: B, 'bookworm-security': C }, builtAt: '2026-11-30T16:00:00.000Z' };
  assert.ok(BaseRecordSchema.safeParse(good).success);
  assert.ok(BaseRecordSchema.safeParse({ ...good, derivedFrom: 'web-fedcba9876543210' }).success);
  for (const bad of [
    { ...good, version: 2 },
    { ...good, recipe: '../x' },
    { ...good, key: 'ZZ' },
    { ...good, suites: { 'Bad Suite': B } },
    { ...good, builtAt: 'yesterday' },
    { ...good, derivedFrom: '../../etc' },
    { ...good, extra: true },
  ]) {
    assert.not.ok(BaseRecordSchema.safeParse(bad).success, JSON.stringify(bad));
  }
});

test.run();
