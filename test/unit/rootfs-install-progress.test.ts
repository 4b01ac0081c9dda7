/**
 * Bootstrap and package-installation progress with totals, on real output
 * captured on this machine: `apt-get -q -y -o Dpkg::Use-Pty=0 install
 * --no-install-recommends -- toilet sl` (apt 2.6, the command create runs
 * inside the machine) and `debootstrap --variant=minbase bookworm` from a
 * warmed local mirror (test/unit/fixtures: the whole output).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { emptyProgress, finalEvents, formatProgress, parseProgressLine, progressEvent, progressLines, progressTotal } from '../../src/rootfs/install-progress.js';
import type { ProgressEvent } from '../../src/progress.js';

const APT_INSTALL = `Reading package lists...
Building dependency tree...
Reading state information...
The following additional packages will be installed:
  libcaca0 toilet-fonts
Suggested packages:
  figlet
The following NEW packages will be installed:
  libcaca0 sl toilet toilet-fonts
0 upgraded, 4 newly installed, 0 to remove and 113 not upgraded.
Need to get 760 kB/961 kB of archives.
After this operation, 1850 kB of additional disk space will be used.
Get:1 http://deb.debian.org/debian bookworm/main amd64 sl amd64 5.02-1+b1 [13.2 kB]
Get:2 http://deb.debian.org/debian bookworm/main amd64 toilet-fonts all 0.3-1.4 [724 kB]
Get:3 http://deb.debian.org/debian bookworm/main amd64 toilet amd64 0.3-1.4 [22.6 kB]
Fetched 760 kB in 0s (2616 kB/s)
Selecting previously unselected package libcaca0:amd64.
(Reading database ... 117816 files and directories currently installed.)
Preparing to unpack .../libcaca0_0.99.beta20-3+deb12u1_amd64.deb ...
Unpacking libcaca0:amd64 (0.99.beta20-3+deb12u1) ...
Selecting previously unselected package sl.
Preparing to unpack .../sl_5.02-1+b1_amd64.deb ...
Unpacking sl (5.02-1+b1) ...
Selecting previously unselected package toilet-fonts.
Preparing to unpack .../toilet-fonts_0.3-1.4_all.deb ...
Unpacking toilet-fonts (0.3-1.4) ...
Selecting previously unselected package toilet.
Preparing to unpack .../toilet_0.3-1.4_amd64.deb ...
Unpacking toilet (0.3-1.4) ...
Setting up sl (5.02-1+b1) ...
Setting up toilet-fonts (0.3-1.4) ...
Setting up libcaca0:amd64 (0.99.beta20-3+deb12u1) ...
Setting up toilet (0.3-1.4) ...
update-alternatives: using /usr/bin/figlet-toilet to provide /usr/bin/figlet (figlet) in auto mode
Processing triggers for man-db (2.11.2-2) ...
Processing triggers for libc-bin (2.36-9+deb12u14) ...`.split('\n');

// apt-get upgrade right after, with nothing to do (create's third apt-get run).
const APT_UPGRADE_NOTHING = ['Reading package lists...', 'Calculating upgrade...', '0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.'];

function events(label: string, lines: string[]): { events: ProgressEvent[]; p: ReturnType<typeof emptyProgress> } {
  const p = emptyProgress();
  const out: ProgressEvent[] = [];
  const onLine = progressLines(label, p, (e) => out.push(e));
  for (const line of lines) onLine(line);
  return { events: out, p };
}

test('apt-get install: the summary gives the total; dpkg\'s Unpacking and Setting up lines count up to it', () => {
  const { events: ev, p } = events('packages', [...APT_INSTALL, ...APT_UPGRADE_NOTHING]);
  assert.is(progressTotal(p), 4);
  const e = (step: string, done: number): ProgressEvent => ({ stage: `packages ${step}`, done, total: 4, unit: 'packages' });
  assert.equal(ev, [e('unpack', 1), e('unpack', 2), e('unpack', 3), e('unpack', 4), e('configure', 1), e('configure', 2), e('configure', 3), e('configure', 4)]);
  assert.is(p.unpacked, 4);
  assert.is(p.configured, 4);
  assert.equal(finalEvents('packages', p), [], 'every step reached its total from the lines');
  assert.is(formatProgress(p), 'configuring toilet (retrieved 0, unpacked 4/4, configured 4/4)');
});

test('apt summaries add up over the runs of one step (install, then upgrade)', () => {
  const p = emptyProgress();
  parseProgressLine(p, '0 upgraded, 4 newly installed, 0 to remove and 113 not upgraded.');
  parseProgressLine(p, '2 upgraded, 1 newly installed, 0 to remove and 0 not upgraded.');
  assert.is(progressTotal(p), 7);
  assert.not.ok(parseProgressLine(p, '1 upgraded, 0 newly installed, 0 to remove and 0 not upgraded. extra'));
  assert.is(progressTotal(p), 7);
});

test('before a summary nothing has a total: no event; after the tool succeeded, steps short of the total end at it', () => {
  const p = emptyProgress();
  parseProgressLine(p, 'Unpacking sl (5.02-1+b1) ...');
  assert.is(progressEvent('packages', p), undefined);
  parseProgressLine(p, '0 upgraded, 2 newly installed, 0 to remove and 0 not upgraded.');
  assert.equal(finalEvents('packages', p), [
    { stage: 'packages unpack', done: 2, total: 2, unit: 'packages' },
    { stage: 'packages configure', done: 2, total: 2, unit: 'packages' },
  ]);
});

const here = dirname(fileURLToPath(import.meta.url));
const DEBOOTSTRAP = readFileSync(join(here, 'fixtures', 'debootstrap-minbase-bookworm.txt'), 'utf8').split('\n');
const validatedNames = DEBOOTSTRAP.map((l) => /^I: Validating ([a-z0-9][a-z0-9+.-]+) \S/.exec(l)?.[1]).filter(Boolean);

test('real debootstrap output: retrieval without a total, then extract, unpack and configure out of the packages validated', () => {
  assert.ok(validatedNames.length > 50, `a minbase set: ${validatedNames.length}`);
  const total = new Set(validatedNames).size;
  const { events: ev, p } = events('bootstrap', DEBOOTSTRAP);
  assert.is(p.stage, 'done');
  assert.is(p.retrieved, total);
  assert.is(p.validated, total);
  const by = (stage: string) => ev.filter((e) => e.stage === stage);
  // Retrieval: counts only (debootstrap names no package before fetching it), ending at every package.
  // Retrieval over, its count becomes its total: the last retrieve event is done === total.
  const retrieve = by('bootstrap retrieve');
  assert.ok(retrieve.slice(0, -1).every((e) => e.total === undefined));
  assert.equal(retrieve.at(-1), { stage: 'bootstrap retrieve', done: total, total, unit: 'packages' });
  assert.is(retrieve.length, total + 1);
  for (const step of ['extract', 'unpack', 'configure']) {
    const seen = by(`bootstrap ${step}`);
    assert.ok(seen.length > 0, step);
    assert.ok(seen.every((e) => e.total === total && e.done <= total), step);
    const dones = seen.map((e) => e.done);
    assert.equal(dones, [...dones].sort((a, b) => a - b), `${step} never backwards`);
  }
  assert.is(p.unpacked, total, 'every package validated is unpacked once');
  assert.is(by('bootstrap unpack').at(-1)?.done, total);
  // A package configured twice (a trigger) counts once; the success line closes what fell short.
  const configured = DEBOOTSTRAP.filter((l) => /^I: Configuring [a-z0-9][a-z0-9+.-]+(?::[a-z0-9-]+)?\.\.\.$/.test(l)).length;
  assert.ok(p.configured <= total && p.configured <= configured);
  const closing = finalEvents('bootstrap', p);
  assert.equal(closing, p.configured < total ? [{ stage: 'bootstrap configure', done: total, total, unit: 'packages' }] : []);
});

test.run();
