/**
 * The update suites at the index's level, with real dpkg-deb, apt-ftparchive,
 * gpg and apt-get on fixtures made here: every suite of a family published as
 * its own signed suite (an empty one too) that a real apt client updates from
 * and pins by release; Priority and Section from the upstream's verified
 * lists (the suite's own first), hostile values ignored, the override file
 * made again only when a list changed; gc, verify and status over every suite.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Shell } from '../../src/shell.js';
import type { Config } from '../../src/config/types.js';
import type { MirrorContext } from '../../src/mirror/context.js';
import { mirrorLayout, poolRelativePath, suiteListPath } from '../../src/mirror/layout.js';
import { stopGpgAgent } from '../../src/mirror/keys.js';
import { publishMirror } from '../../src/mirror/publish.js';
import { gcMirror } from '../../src/mirror/gc.js';
import { verifyMirror } from '../../src/mirror/verify.js';
import { formatStatus, mirrorStatus } from '../../src/mirror/status.js';
import { overridePath, stagedOverrides } from '../../src/mirror/overrides.js';
import { parseRelease, clearsignedText, parseStanzas } from '../../src/mirror/release.js';
import { makeConfig } from '../helpers/config.js';
import { makeDeb, type DebSpec } from '../helpers/debs.js';
import { aptProblems, aptRun, makeAptClient } from '../helpers/apt-client.js';
import { removeTestTree } from '../helpers/cleanup.js';

const bases: string[] = [];

function setup(overrides: Partial<Config['mirror']> = {}) {
  const base = mkdtempSync(join(tmpdir(), 'nk-suites-'));
  bases.push(base);
  const plain = makeConfig(base);
  const config = makeConfig(base, { mirror: { ...plain.mirror, ...overrides } });
  const logs: string[] = [];
  const ctx: MirrorContext = { sh: new Shell({ log: () => {} }), config, log: (l) => logs.push(l) };
  return { base, config, ctx, layout: mirrorLayout(config), logs };
}

type Layout = ReturnType<typeof mirrorLayout>;

/** A fixture .deb put into the pool and listed in `suite`; returns its pool path. */
function addDeb(base: string, layout: Layout, suite: string, spec: DebSpec): string {
  const rel = poolRelativePath({ name: spec.name, source: spec.source, version: spec.version ?? '1.0-1', architecture: spec.arch ?? 'amd64' });
  mkdirSync(dirname(join(layout.root, rel)), { recursive: true });
  copyFileSync(makeDeb(mkdtempSync(join(base, 'debs-')), spec), join(layout.root, rel));
  mkdirSync(layout.suites, { recursive: true });
  const list = suiteListPath(layout, suite);
  const had = existsSync(list) ? readFileSync(list, 'utf8').split('\n').filter(Boolean) : [];
  writeFileSync(list, [...new Set([...had, rel])].sort().join('\n') + '\n');
  return rel;
}

/**
 * A verified list of warm's private apt root (named as apt names it), with the given text; the
 * root's family record names the family's own sources, as warm writes it (Debian's archive and
 * security archive), so an extra repository's list is none of them.
 */
function warmList(layout: Layout, codename: string, fileName: string, text: string): string {
  const root = join(layout.state, 'warm', codename, 'apt-test-recipe');
  const dir = join(root, 'state', 'lists');
  mkdirSync(join(dir, 'partial'), { recursive: true });
  const own = [
    { uri: 'http://deb.debian.org/debian', suite: codename },
    { uri: 'http://deb.debian.org/debian', suite: `${codename}-updates` },
    { uri: 'http://deb.debian.org/debian-security', suite: `${codename}-security` },
  ];
  writeFileSync(join(root, 'family.json'), `${JSON.stringify({ sources: own })}\n`);
  writeFileSync(join(dir, fileName), text);
  return join(dir, fileName);
}

const RELEASE_LIST = 'deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages';
const SECURITY_LIST = 'deb.debian.org_debian-security_dists_bookworm-security_main_binary-amd64_Packages';

/** The published stanza of a package in a suite. */
function stanza(layout: Layout, suite: string, name: string): Record<string, string> | undefined {
  const text = readFileSync(join(layout.dists, suite, 'main', 'binary-amd64', 'Packages'), 'utf8');
  return parseStanzas(text).find((s) => s['Package'] === name);
}

test('Priority and Section come from the upstream lists (the suite own first), hostile values never', async () => {
  const { base, ctx, layout, logs } = setup();
  addDeb(base, layout, 'bookworm', { name: 'coreish', version: '1.0-1', priority: 'important', section: 'misc' });
  addDeb(base, layout, 'bookworm', { name: 'evilprio', priority: 'important', section: 'misc' });
  addDeb(base, layout, 'bookworm', { name: 'badsect', priority: 'important', section: 'misc' });
  addDeb(base, layout, 'bookworm', { name: 'ctlsect', priority: 'important', section: 'misc' });
  addDeb(base, layout, 'bookworm', { name: 'unlisted', priority: 'important', section: 'misc' });
  addDeb(base, layout, 'bookworm-security', { name: 'coreish', version: '1.1-1', priority: 'important', section: 'misc' });
  addDeb(base, layout, 'bookworm-security', { name: 'onlyrelease', priority: 'important', section: 'misc' });
  const releaseList = warmList(
    layout,
    'bookworm',
    RELEASE_LIST,
    [
      'Package: coreish\nVersion: 1.0-1\nPriority: required\nSection: admin\n',
      // A continued value (what "required\nX-Evil: 1" becomes in a list): no value at all.
      'Package: evilprio\nPriority: required\n X-Evil: 1\nSection: admin\n',
      'Package: badsect\nPriority: required\nSection: ad min\n',
      'Package: ctlsect\nPriority: required\nSection: admin\u001b[2J\n',
      'Package: onlyrelease\nPriority: standard\nSection: non-free/net\n',
    ].join('\n'),
  );
  warmList(layout, 'bookworm', SECURITY_LIST, 'Package: coreish\nVersion: 1.1-1\nPriority: standard\nSection: utils\n');
  // An extra repository of a recipe, suite bookworm, whose list sorts first and says otherwise: never an override.
  warmList(layout, 'bookworm', 'apt.example.org_repo_dists_bookworm_main_binary-amd64_Packages', 'Package: coreish\nVersion: 1.0-1\nPriority: optional\nSection: games\n\nPackage: unlisted\nPriority: optional\nSection: games\n');
  const report = await publishMirror(ctx);
  assert.equal(report.suites.map((s) => [s.codename, s.packages]), [['bookworm', 5], ['bookworm-security', 2], ['bookworm-updates', 0]]);
  assert.equal(report.suites.flatMap((s) => s.quarantined), []);
  const core = stanza(layout, 'bookworm', 'coreish');
  assert.is(core?.['Priority'], 'required');
  assert.is(core?.['Section'], 'admin');
  for (const name of ['evilprio', 'badsect', 'ctlsect', 'unlisted']) {
    const s = stanza(layout, 'bookworm', name);
    assert.is(s?.['Priority'], 'important', `${name} keeps its control file's Priority`);
    assert.is(s?.['Section'], 'misc', `${name} keeps its control file's Section`);
  }
  const packages = readFileSync(join(layout.dists, 'bookworm', 'main', 'binary-amd64', 'Packages'), 'utf8');
  assert.not.match(packages, 'X-Evil');
  assert.not.match(packages, '\u001b');
  // bookworm-security: its own list first, then the release's.
  assert.is(stanza(layout, 'bookworm-security', 'coreish')?.['Priority'], 'standard');
  assert.is(stanza(layout, 'bookworm-security', 'coreish')?.['Section'], 'utils');
  assert.is(stanza(layout, 'bookworm-security', 'onlyrelease')?.['Section'], 'non-free/net');
  assert.equal(logs.filter((l) => /override|warning|W:/i.test(l)), [], 'no override noise');
  assert.is(readFileSync(overridePath(layout, 'bookworm'), 'utf8'), 'coreish required admin\nonlyrelease standard non-free/net\n');
  assert.is(readFileSync(overridePath(layout, 'bookworm-security'), 'utf8'), 'coreish standard utils\nonlyrelease standard non-free/net\n');
  // apt-ftparchive is handed the lines of the suite's own packages only.
  const scratch = mkdtempSync(join(base, 'scratch-'));
  const staged = await stagedOverrides(ctx.sh, layout, 'bookworm', ['pool/main/c/coreish/coreish_1.0-1_amd64.deb', 'pool/main/u/unlisted/unlisted_1.0-1_amd64.deb'], scratch);
  assert.is(readFileSync(staged ?? '', 'utf8'), 'coreish required admin\n');
  assert.is(await stagedOverrides(ctx.sh, layout, 'trixie', ['pool/main/c/coreish/coreish_1.0-1_amd64.deb'], scratch), undefined, 'no verified list: no override');

  // Unchanged lists: the override file is not made again (same inode and mtime).
  const before = statSync(overridePath(layout, 'bookworm'));
  await publishMirror(ctx, { codenames: ['bookworm'] });
  const after = statSync(overridePath(layout, 'bookworm'));
  assert.equal([after.ino, after.mtimeMs], [before.ino, before.mtimeMs]);
  // A list that changed: made again, and the next publication says so.
  writeFileSync(releaseList, 'Package: coreish\nPriority: important\nSection: libs\n');
  await publishMirror(ctx, { codenames: ['bookworm'] });
  assert.is(readFileSync(overridePath(layout, 'bookworm'), 'utf8'), 'coreish important libs\n');
  assert.is(stanza(layout, 'bookworm', 'coreish')?.['Section'], 'libs');
  await stopGpgAgent(ctx);
});

test('every suite is its own signed suite, an empty one too; apt updates and pins by release', async () => {
  const { base, ctx, layout } = setup();
  addDeb(base, layout, 'bookworm', { name: 'hello', version: '1.0-1' });
  await publishMirror(ctx);
  const inRelease = (suite: string) => parseRelease(clearsignedText(readFileSync(join(layout.dists, suite, 'InRelease'), 'utf8'))).fields;
  const security = inRelease('bookworm-security');
  assert.equal([security['Suite'], security['Codename'], security['Description']], ['bookworm-security', 'bookworm-security', 'nspawn-kit local mirror of bookworm-security (security updates of bookworm)']);
  assert.equal([inRelease('bookworm-updates')['Suite'], inRelease('bookworm-updates')['Codename']], ['bookworm-updates', 'bookworm-updates']);
  assert.equal([inRelease('bookworm')['Suite'], inRelease('bookworm')['Description']], ['bookworm', 'nspawn-kit local mirror of bookworm']);
  assert.is(readFileSync(join(layout.dists, 'bookworm-security', 'main', 'binary-amd64', 'Packages'), 'utf8'), '');
  for (const suite of ['bookworm', 'bookworm-updates', 'bookworm-security']) {
    execFileSync('gpgv', ['--keyring', layout.publicKeyring, '--', join(layout.dists, suite, 'InRelease')], { stdio: 'ignore' });
  }

  // By name: a suite of a listed family publishes (empty); any other name without a list is a mistake.
  const alone = await publishMirror(ctx, { codenames: ['bookworm-security'] });
  assert.equal(alone.suites.map((x) => [x.codename, x.packages]), [['bookworm-security', 0]]);
  try {
    await publishMirror(ctx, { codenames: ['bokworm'] });
    assert.unreachable('a suite without a list outside every listed family');
  } catch (err) {
    assert.match(String(err), 'no suite list for bokworm');
  }

  const client = makeAptClient(join(base, 'apt'), `file://${layout.root}`, layout.publicKeyAsc, ['bookworm', 'bookworm-updates', 'bookworm-security']);
  let update = await aptRun(client, ['update']);
  assert.is(update.code, 0, update.out);
  assert.equal(aptProblems(update.out), [], update.out);
  const candidate = async (args: string[]) => /^Inst hello \(([^ ]+) /m.exec((await aptRun(client, ['install', '-s', ...args, 'hello'])).out)?.[1];
  assert.is(await candidate([]), '1.0-1', 'with -security empty, the release version');

  addDeb(base, layout, 'bookworm-security', { name: 'hello', version: '1.1-1' });
  await publishMirror(ctx);
  update = await aptRun(client, ['update']);
  assert.is(update.code, 0, update.out);
  assert.equal(aptProblems(update.out), [], update.out);
  assert.is(await candidate([]), '1.1-1', 'the security fix wins');
  assert.is(await candidate(['-t', 'bookworm-security']), '1.1-1');
  assert.is(await candidate(['-t', 'bookworm']), '1.0-1', '-t bookworm pins to the release');
  // apt sees each suite as its own release (what pinning by release keys on).
  const policy = await aptRun(client, ['policy'], undefined, 'apt-cache');
  // (apt lists no release for the empty -updates index.)
  for (const suite of ['bookworm', 'bookworm-security']) assert.match(policy.out, `release o=nspawn-kit,a=${suite},n=${suite},l=nspawn-kit,c=main,b=amd64`);
  await stopGpgAgent(ctx);
});

test('gc per suite: 1.0 in bookworm and 1.1 in -security stay; 1.1 goes when replaced and out of every publication in grace', async () => {
  const { base, ctx, layout } = setup({ keep: 1, graceHours: 48 });
  const v10 = addDeb(base, layout, 'bookworm', { name: 'hello', version: '1.0-1' });
  const v11 = addDeb(base, layout, 'bookworm-security', { name: 'hello', version: '1.1-1' });
  await publishMirror(ctx);
  let gc = await gcMirror(ctx);
  assert.equal([gc.removedFromSuites, gc.deleted], [[], []]);
  assert.ok(existsSync(join(layout.root, v10)) && existsSync(join(layout.root, v11)));

  const v12 = addDeb(base, layout, 'bookworm-security', { name: 'hello', version: '1.2-1' });
  gc = await gcMirror(ctx);
  assert.equal(gc.removedFromSuites.map((r) => [r.codename, r.version]), [['bookworm-security', '1.1-1']]);
  assert.equal(gc.keptForGrace, [v11], 'the live -security publication still names 1.1');
  await publishMirror(ctx);
  // The new -security publication no longer names 1.1, the previous one (in grace) does.
  gc = await gcMirror(ctx);
  assert.equal([gc.deleted, gc.keptForGrace], [[], [v11]]);
  gc = await gcMirror(ctx, { now: new Date(Date.now() + 49 * 3_600_000) });
  assert.equal(gc.deleted.map((d) => d.pool), [v11]);
  assert.ok(existsSync(join(layout.root, v10)), '1.0 of the release stays');
  assert.ok(existsSync(join(layout.root, v12)));
  assert.not.ok(existsSync(join(layout.root, v11)));

  // verify and status cover every suite.
  const verified = await verifyMirror(ctx);
  assert.equal(verified.suites.map((s) => [s.codename, s.packages]), [['bookworm', 1], ['bookworm-security', 1], ['bookworm-updates', 0]]);
  assert.equal(verified.problems, []);
  const status = formatStatus(await mirrorStatus(ctx));
  for (const suite of ['bookworm', 'bookworm-security', 'bookworm-updates']) assert.match(status, new RegExp(`^  ${suite}: \\d+ packages`, 'm'));
  await stopGpgAgent(ctx);
});

test.after(async () => {
  for (const base of bases) await removeTestTree(base);
});

test.run();
