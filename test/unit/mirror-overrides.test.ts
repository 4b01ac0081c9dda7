/**
 * overrides.ts (pure parts) and verified-lists.ts suiteOfList: Priority and
 * Section read from a Packages text as strictly as configuration, the
 * override file's text, the precedence of a suite's lists, the suite a warm
 * list speaks for. Made and cached on disk, and used by apt-ftparchive:
 * test/integration/mirror-update-suites.test.ts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { overrideSources, parseOverrides, renderOverrides, validOverride } from '../../src/mirror/overrides.js';
import { suiteOfList } from '../../src/mirror/verified-lists.js';
import { PACKAGES } from '../helpers/packages-index.js';

test('parseOverrides: Package, Priority, Section of each stanza; the first stanza of a name wins', () => {
  assert.equal([...parseOverrides(PACKAGES)], [['hello', 'optional devel']]);
  const text = [
    'Package: apt\nVersion: 2.6.1\nPriority: required\nSection: admin\nDescription: x\n multi\n line',
    'Package: apt\nVersion: 2.6.2\nPriority: optional\nSection: misc',
    'package: lower\nPRIORITY: important\nsection: non-free/net',
    'Package: nosection\nPriority: required',
  ].join('\n\n');
  assert.equal([...parseOverrides(text)], [
    ['apt', 'required admin'],
    ['lower', 'important non-free/net'],
  ]);
  assert.equal([...parseOverrides('')], []);
});

test('parseOverrides: hostile values give no entry (the .deb keeps its control values)', () => {
  const hostile = [
    // "required\nX-Evil: 1" as a list can carry it: a continuation line.
    'Package: evil1\nPriority: required\n X-Evil: 1\nSection: admin',
    'Package: evil2\nPriority: required\nSection: admin\n\tX-Evil: 1',
    'Package: evil3\nPriority: required\nSection: ad min',
    'Package: evil4\nPriority: required\nSection: admin\u0007',
    'Package: evil5\nPriority: Required\nSection: admin',
    'Package: evil6\nPriority: urgent\nSection: admin',
    'Package: evil7\nPriority: required\nSection: a/b/c',
    'Package: evil8\nPriority: required\nPriority: optional\nSection: admin',
    'Package: Evil9\nPriority: required\nSection: admin',
    'Package: evil10\nPriority: required\nSection: ../admin',
    'Package: evil11 x\nPriority: required\nSection: admin',
    'Package: good\nPriority: extra\nSection: contrib/libs',
  ].join('\n\n');
  assert.equal([...parseOverrides(hostile)], [['good', 'extra contrib/libs']]);
});

test('validOverride: Debian priorities and section tokens only', () => {
  for (const p of ['required', 'important', 'standard', 'optional', 'extra']) assert.ok(validOverride(p, 'admin'));
  for (const s of ['admin', 'non-free/net', 'non-free-firmware/kernel', 'libs', 'gnu-r', 'x11']) assert.ok(validOverride('optional', s), s);
  for (const s of ['', 'ad min', 'admin\n', 'a/b/c', '/admin', 'admin/', 'Admin', '-admin', 'x'.repeat(41)]) assert.not.ok(validOverride('optional', s), JSON.stringify(s));
  assert.not.ok(validOverride(undefined, 'admin'));
  assert.not.ok(validOverride('required\nX-Evil: 1', 'admin'));
});

test('renderOverrides: sorted `package priority section` lines', () => {
  assert.is(renderOverrides(new Map([['zlib1g', 'required libs'], ['apt', 'required admin']])), 'apt required admin\nzlib1g required libs\n');
  assert.is(renderOverrides(new Map()), '');
});

test('overrideSources: the suite own lists first, then the release lists; the release only its own; never an extra repository\'s', () => {
  const lists = [
    { path: '/a/extra', suite: 'bookworm', own: false },
    { path: '/a/old-root', suite: 'bookworm-security' },
    { path: '/a/rel', suite: 'bookworm', own: true },
    { path: '/a/sec', suite: 'bookworm-security', own: true },
    { path: '/a/upd', suite: 'bookworm-updates', own: true },
  ];
  assert.equal(overrideSources(lists, 'bookworm-security').map((l) => l.path), ['/a/sec', '/a/rel']);
  assert.equal(overrideSources(lists, 'bookworm-updates').map((l) => l.path), ['/a/upd', '/a/rel']);
  assert.equal(overrideSources(lists, 'bookworm').map((l) => l.path), ['/a/rel']);
  assert.equal(overrideSources(lists, 'trixie'), []);
});

test('suiteOfList: the suite of apt list names; another suite than the family speaks for the release', () => {
  assert.is(suiteOfList('deb.debian.org_debian-security_dists_bookworm-security_main_binary-amd64_Packages', 'bookworm'), 'bookworm-security');
  assert.is(suiteOfList('deb.debian.org_debian_dists_bookworm-updates_main_binary-amd64_Packages.lz4', 'bookworm'), 'bookworm-updates');
  assert.is(suiteOfList('deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages', 'bookworm'), 'bookworm');
  // A path holding "dists" earlier: the last one counts.
  assert.is(suiteOfList('host_dists_mirror_debian_dists_bookworm-security_main_binary-amd64_Packages', 'bookworm'), 'bookworm-security');
  // An extra repository's suite, or another codename's: the release.
  assert.is(suiteOfList('qgis.org_debian_dists_bookworm_main_binary-amd64_Packages', 'bookworm'), 'bookworm');
  assert.is(suiteOfList('example.org_repo_dists_trixie-security_main_binary-amd64_Packages', 'bookworm'), 'bookworm');
  assert.is(suiteOfList('example.org_repo_dists_stable_main_binary-amd64_Packages', 'bookworm'), 'bookworm');
});

test.run();
