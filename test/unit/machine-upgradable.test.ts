import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseDpkgStatus } from '../../src/machine/dpkg-status.js';
import { addOffers, countUpdates, machineSuites, upgradesOf, type Offer } from '../../src/machine/upgradable.js';

const STATUS = `Package: libc6
Status: install ok installed
Priority: optional
Architecture: amd64
Multi-Arch: same
Version: 2.36-9+deb12u1
Description: GNU C Library
 Contains the standard libraries.

Package: libc6
Status: install ok installed
Architecture: i386
Version: 2.36-9+deb12u1

Package: tzdata
Status: install ok installed
Architecture: all
Version: 2024a-0+deb12u1

Package: old-removed
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0-1

Package: half
Status: install ok half-configured
Architecture: amd64
Version: 1.0-1

Package: bash
Status: install ok installed
Architecture: amd64
Version: 5.2.15-2+b2
Conffiles:
 /etc/bash.bashrc 89269e1298235f1b12b4c16e4065ad0d
`;

test('dpkg status: only "install ok installed" stanzas, per architecture, continuation lines skipped', () => {
  const s = parseDpkgStatus(STATUS, '/m/var/lib/dpkg/status');
  assert.equal(s.installed, [
    { name: 'libc6', version: '2.36-9+deb12u1', architecture: 'amd64' },
    { name: 'libc6', version: '2.36-9+deb12u1', architecture: 'i386' },
    { name: 'tzdata', version: '2024a-0+deb12u1', architecture: 'all' },
    { name: 'bash', version: '5.2.15-2+b2', architecture: 'amd64' },
  ]);
  assert.equal(s.problems, []);
});

test('dpkg status: invalid fields, malformed lines and duplicates are left out and reported by stanza', () => {
  const text = [
    'Package: good\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:2.0-1\n',
    'Package: badver\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0 $(reboot)\n',
    'Package: Bad_Name\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0\n',
    'Package: badarch\nStatus: install ok installed\nArchitecture: ../amd64\nVersion: 1.0\n',
    'Package: nover\nStatus: install ok installed\nArchitecture: amd64\n',
    'Package: junk\nStatus: install ok installed\nthis is not a field\nArchitecture: amd64\nVersion: 1.0\n',
    'Package: good\nStatus: install ok installed\nArchitecture: amd64\nVersion: 3.0\n',
    'Package: twice\nStatus: install ok installed\nVersion: 1\nVersion: 2\nArchitecture: amd64\n',
  ].join('\n');
  const s = parseDpkgStatus(text, 'S');
  assert.equal(s.installed, [{ name: 'good', version: '1:2.0-1', architecture: 'amd64' }]);
  assert.equal(s.problems, [
    'S: stanza 2 (Package "badver"): Version "1.0 $(reboot)" is not a Debian version; left out',
    'S: stanza 3 (Package "Bad_Name"): Package "Bad_Name" is not a Debian package name; left out',
    'S: stanza 4 (Package "badarch"): Architecture "../amd64" is not a Debian architecture; left out',
    'S: stanza 5 (Package "nover"): Version "" is not a Debian version; left out',
    'S: stanza 6 (Package "junk"): line 27 is not "Field: value"; left out',
    'S: 2 more stanzas left out',
  ]);
  // A text that is no status file at all: nothing installed, the problem said.
  assert.equal(parseDpkgStatus('\u0000\u0001garbage', 'S'), { installed: [], problems: ['S: stanza 1: line 1 is not "Field: value"; left out'] });
  assert.equal(parseDpkgStatus('', 'S'), { installed: [], problems: [] });
});

const offersOf = (entries: Array<[string, string, string, string]>) => {
  const m = new Map<string, Offer[]>();
  for (const [suite, name, version, architecture] of entries) addOffers(m, suite, [{ name, version, architecture }]);
  return m;
};

const SUITES = ['bookworm', 'bookworm-updates', 'bookworm-security'];

test('upgrades: the highest version of the machine\'s suites for its architecture or all; security when -security offers it', () => {
  const installed = [
    { name: 'libc6', version: '2.36-9+deb12u1', architecture: 'amd64' },
    { name: 'libc6', version: '2.36-9+deb12u1', architecture: 'i386' },
    { name: 'tzdata', version: '2024a-0+deb12u1', architecture: 'all' },
    { name: 'bash', version: '5.2.15-2+b2', architecture: 'amd64' },
    { name: 'curl', version: '7.88.1-10+deb12u5', architecture: 'amd64' },
    { name: 'openssl', version: '3.0.11-1~deb12u2', architecture: 'amd64' },
    { name: 'became-all', version: '1.0-1', architecture: 'amd64' },
    { name: 'epoch', version: '1:1.0-1', architecture: 'amd64' },
  ];
  const offers = offersOf([
    ['bookworm', 'libc6', '2.36-9+deb12u1', 'amd64'],
    ['bookworm-updates', 'libc6', '2.36-9+deb12u4', 'amd64'],
    ['bookworm-security', 'libc6', '2.36-9+deb12u3', 'amd64'],
    // i386 offered only in the release: nothing newer for it.
    ['bookworm', 'libc6', '2.36-9+deb12u1', 'i386'],
    ['bookworm-updates', 'tzdata', '2025b-0+deb12u1', 'all'],
    ['bookworm', 'bash', '5.2.15-2+b2', 'amd64'],
    // A newer curl for another architecture only.
    ['bookworm-security', 'curl', '7.88.1-10+deb12u8', 'arm64'],
    ['bookworm-security', 'openssl', '3.0.15-1~deb12u1', 'amd64'],
    ['bookworm', 'openssl', '3.0.11-1~deb12u2', 'amd64'],
    // trixie's suite is not the machine's.
    ['trixie', 'bash', '5.2.37-1', 'amd64'],
    ['bookworm-updates', 'became-all', '1.1-1', 'all'],
    // 2.0 without the epoch is lower than 1:1.0.
    ['bookworm-security', 'epoch', '2.0-1', 'amd64'],
  ]);
  assert.equal(upgradesOf(installed, offers, SUITES), [
    { name: 'became-all', architecture: 'amd64', installed: '1.0-1', candidate: '1.1-1', suite: 'bookworm-updates', security: false },
    { name: 'libc6', architecture: 'amd64', installed: '2.36-9+deb12u1', candidate: '2.36-9+deb12u4', suite: 'bookworm-updates', security: false },
    { name: 'openssl', architecture: 'amd64', installed: '3.0.11-1~deb12u2', candidate: '3.0.15-1~deb12u1', suite: 'bookworm-security', security: true },
    { name: 'tzdata', architecture: 'all', installed: '2024a-0+deb12u1', candidate: '2025b-0+deb12u1', suite: 'bookworm-updates', security: false },
  ]);
  const counts = countUpdates(installed, offers, SUITES);
  assert.equal([counts.upgradable, counts.security, counts.suites], [4, 1, SUITES]);
  // The same version in -updates and -security counts as security.
  const both = offersOf([
    ['bookworm-updates', 'openssl', '3.0.15-1~deb12u1', 'amd64'],
    ['bookworm-security', 'openssl', '3.0.15-1~deb12u1', 'amd64'],
  ]);
  assert.equal(upgradesOf([{ name: 'openssl', version: '3.0.11-1~deb12u2', architecture: 'amd64' }], both, SUITES).map((u) => [u.suite, u.security]), [['bookworm-security', true]]);
  // A machine without update suites sees only its release.
  assert.equal(countUpdates(installed, offers, ['bookworm']).upgradable, 0);
});

test('machineSuites: the recipe\'s and the recorded ones, in the recipe\'s order, else the codename; never another codename\'s suite', () => {
  // Upgraded while -updates was not published: the record lacks it, the recipe brings it back.
  assert.equal(machineSuites('bookworm', ['bookworm', 'bookworm-security'], SUITES), SUITES);
  // Upgraded while only the release was published: -updates and -security are still looked at.
  assert.equal(machineSuites('bookworm', ['bookworm'], SUITES), SUITES);
  // Recorded in another order, or a recorded suite the recipe no longer has: the recipe's order first, then the rest.
  assert.equal(machineSuites('bookworm', ['bookworm-security', 'bookworm'], ['bookworm', 'bookworm-updates']), ['bookworm', 'bookworm-updates', 'bookworm-security']);
  // A recipe of another family (changed by hand): only this codename's suites.
  assert.equal(machineSuites('bookworm', ['bookworm'], ['trixie', 'trixie-security']), ['bookworm']);
  assert.equal(machineSuites('bookworm', undefined, SUITES), SUITES);
  assert.equal(machineSuites('bookworm', ['bookworm', 'bookworm-security'], undefined), ['bookworm', 'bookworm-security']);
  assert.equal(machineSuites('bookworm', [], undefined), ['bookworm']);
  assert.equal(machineSuites('bookworm', ['trixie', 'bookworm-security', '../x'], undefined), ['bookworm-security']);
  assert.equal(machineSuites('bookworm', ['trixie-security'], undefined), ['bookworm']);
});

test.run();
