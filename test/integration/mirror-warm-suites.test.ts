/**
 * `mirror warm` over every suite of a codename and the nightly refresh of
 * the update suites, against a LOCAL upstream made at test time (file://,
 * three suites signed with a throwaway key, apt-ftparchive indices; real
 * debootstrap --print-debs, apt-get, dpkg-deb, gpg):
 * - the base set is resolved at the release's versions (the release's source
 *   alone, though every suite's Release says `Codename: bookworm`) and filed
 *   under the release; the lists apt names with a quoted path are found; the newest candidates (base set + recipe
 *   packages) are filed under the suite whose list names their bytes;
 * - warming again downloads nothing;
 * - a refresh after a newer version appears in -security downloads exactly
 *   it and the new dependency it needs, files it under -security, and a
 *   refresh with nothing new downloads no .deb; a newer version whose
 *   dependencies cannot be resolved is fetched alone, and the report says so.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Shell } from '../../src/shell.js';
import type { MirrorContext } from '../../src/mirror/context.js';
import { warmRecipes } from '../../src/mirror/warm.js';
import { refreshUpdates } from '../../src/mirror/updates.js';
import { refreshMirror } from '../../src/mirror/refresh.js';
import { archiveOwner } from '../../src/triggers/archive-owner.js';
import { mirrorLayout, suiteListPath } from '../../src/mirror/layout.js';
import { stopGpgAgent } from '../../src/mirror/keys.js';
import { makeConfig, makeRecipe } from '../helpers/config.js';
import { makeUpstream } from '../helpers/upstream-repo.js';
import { ROOT } from '../helpers/cli.js';
import { listPrefix } from '../../src/mirror/apt-root.js';
import { warmLists } from '../../src/mirror/verified-lists.js';

const base = mkdtempSync(join(tmpdir(), 'nk-warm-suites-'));
// A path apt quotes in its list names ("_" -> %5f, "~" -> %7e), and Ubuntu-style Releases (every suite says
// `Codename: bookworm`, so APT::Default-Release=bookworm would pin -security and -updates too).
const up = makeUpstream(join(base, 'up_stream~x'), 'bookworm', { ubuntuCodenames: true });
// The release: debootstrap's minbase set (Priority: required, plus apt and usr-is-merged) and the recipe's tool.
up.add('bookworm', { name: 'base-a', version: '1.0', priority: 'required' });
up.add('bookworm', { name: 'hello', version: '1.0', priority: 'required' });
up.add('bookworm', { name: 'usr-is-merged', version: '37' });
up.add('bookworm', { name: 'apt', version: '2.6', depends: 'base-a' });
up.add('bookworm', { name: 'tool', version: '1.0' });
up.add('bookworm', { name: 'newdep', version: '1.0' });
// Updates: a newer hello in -security, a newer tool in -updates.
up.add('bookworm-security', { name: 'hello', version: '1.1', priority: 'required' });
up.add('bookworm-updates', { name: 'tool', version: '1.1' });
// An epoch (a pool file name drops it: what the mirror holds is compared by the validated version).
up.add('bookworm', { name: 'epo', version: '1:1.0' });
up.add('bookworm-updates', { name: 'epo', version: '1:1.1' });

const config = makeConfig(base);
const lines: string[] = [];
const ctx: MirrorContext = { sh: new Shell({ log: (l) => lines.push(l) }), config, log: (l) => lines.push(l) };
const layout = mirrorLayout(config);
const recipe = makeRecipe({
  name: 'fixture',
  codename: 'bookworm',
  variant: 'minbase',
  upstream: up.archive,
  updates: true,
  suites: ['bookworm', 'bookworm-updates', 'bookworm-security'],
  upstreams: { bookworm: up.archive, 'bookworm-updates': up.archive, 'bookworm-security': up.security },
  packages: ['tool', 'epo'],
});
const suite = (s: string): string[] => readFileSync(suiteListPath(layout, s), 'utf8').split('\n').filter(Boolean).map((p) => p.split('/').pop() ?? p);

test('warm: base set at the release versions under the release, newest candidates under their suites', async () => {
  const report = await warmRecipes(ctx, [recipe], { keyring: up.keyring });
  const r = report.recipes[0];
  assert.ok(r);
  assert.equal(r.warnings, []);
  assert.is(r.baseSet, 4);
  // apt's own list names, quoted as listPrefix says.
  const aptLists = readdirSync(join(layout.state, 'warm', 'bookworm', 'apt-fixture', 'state', 'lists'));
  assert.ok(aptLists.includes(`${listPrefix(up.security, 'bookworm-security')}InRelease`), aptLists.join(' '));
  assert.match(listPrefix(up.security, 'bookworm-security'), 'up%5fstream%7ex_debian-security_dists_bookworm-security_');
  // The root's family record claims each of apt's lists for its suite, as the family's own (Priority and Section come from them).
  const claimed = (await warmLists(layout, 'bookworm')).filter((l) => l.path.includes('/apt-fixture/')).map((l) => [l.suite, l.own]);
  assert.equal(claimed.sort(), [['bookworm', true], ['bookworm-security', true], ['bookworm-updates', true]]);
  assert.equal(suite('bookworm'), ['apt_2.6_amd64.deb', 'base-a_1.0_amd64.deb', 'hello_1.0_amd64.deb', 'usr-is-merged_37_amd64.deb']);
  assert.equal(suite('bookworm-security'), ['hello_1.1_amd64.deb']);
  assert.equal(suite('bookworm-updates'), ['epo_1.1_amd64.deb', 'tool_1.1_amd64.deb']);
  assert.is(r.needed, 7);
  assert.is(r.downloaded, 7);
  assert.equal(r.suites, { bookworm: { needed: 4, downloaded: 4 }, 'bookworm-updates': { needed: 2, downloaded: 2 }, 'bookworm-security': { needed: 1, downloaded: 1 } });
  assert.equal(report.published?.suites.map((s) => [s.codename, s.packages]).sort(), [['bookworm', 4], ['bookworm-security', 1], ['bookworm-updates', 2]]);
  assert.match(report.summary, 'by suite: bookworm 4 (4 new), bookworm-updates 2 (2 new), bookworm-security 1 (1 new)');
});

test('warm again: nothing changed, nothing downloaded', async () => {
  const report = await warmRecipes(ctx, [recipe], { keyring: up.keyring });
  const r = report.recipes[0];
  assert.is(report.downloaded, 0);
  assert.is(r?.baseSetCached, true);
  assert.is(r?.alreadyInPool, 7);
  assert.is(r?.addedToSuite, 0);
  assert.match(report.summary, 'nothing to download');
});

test('refresh: a newer hello in -security and its new dependency are fetched and filed; nothing else', async () => {
  up.add('bookworm-security', { name: 'hello', version: '1.2', priority: 'required', depends: 'newdep' });
  const report = await refreshUpdates(ctx, [recipe], { keyring: up.keyring });
  const c = report.codenames[0];
  assert.ok(c);
  assert.is(c.codename, 'bookworm');
  assert.is(c.recipe, 'fixture');
  assert.is(c.checked, 6);
  assert.equal(c.newer, ['hello 1.2 (amd64)']);
  assert.is(c.downloaded, 2);
  assert.is(report.downloaded, 2);
  assert.ok(report.bytesDownloaded > 0);
  // A new private root: every list was written; file:// fetches are not counted by apt (no "Fetched" line).
  assert.ok(report.listBytesWritten > 0);
  assert.is(report.listBytes, 0);
  assert.equal(suite('bookworm-security'), ['hello_1.1_amd64.deb', 'hello_1.2_amd64.deb']);
  assert.equal(suite('bookworm'), ['apt_2.6_amd64.deb', 'base-a_1.0_amd64.deb', 'hello_1.0_amd64.deb', 'newdep_1.0_amd64.deb', 'usr-is-merged_37_amd64.deb']);
  assert.equal(suite('bookworm-updates'), ['epo_1.1_amd64.deb', 'tool_1.1_amd64.deb']);
  assert.is(c.fallback, false);
});

test('mirror refresh with nothing new upstream: no .deb downloaded, no list rewritten, the summary says so', async () => {
  // The recipe as configured: its -security upstream follows the release's (…/debian -> …/debian-security).
  const recipes = join(base, 'recipes');
  mkdirSync(recipes);
  writeFileSync(join(recipes, 'a-fixture.json'), JSON.stringify({ codename: 'bookworm', variant: 'minbase', packages: ['tool'], upstream: up.archive }));
  // The bundled recipes are overridden by name (not warmed: no network), so only the fixture's upstreams are read.
  for (const f of readdirSync(join(ROOT, 'recipes')).filter((n) => n.endsWith('.json'))) {
    writeFileSync(join(recipes, f), JSON.stringify({ codename: 'bookworm', variant: 'minbase', upstream: up.archive, refresh: false }));
  }
  const refreshed = await refreshMirror({ ...ctx, config: { ...config, recipeDirs: [recipes] } }, archiveOwner, { keyring: up.keyring });
  assert.equal(refreshed.problems, []);
  const report = refreshed.updates;
  assert.ok(report);
  assert.is(report.codenames[0]?.recipe, 'a-fixture');
  assert.is(report.downloaded, 0);
  assert.is(report.bytesDownloaded, 0);
  // apt left every list as it was: no list file was rewritten.
  assert.is(report.listBytesWritten, 0);
  assert.equal(report.codenames[0]?.newer, []);
  assert.is(report.codenames[0]?.checked, 7);
  assert.match(refreshed.summary, 'updates: 7 packages checked, 0 newer versions, 0 .debs downloaded (0.0 KiB), lists: 0.0 KiB fetched (apt), 0.0 KiB written');
  assert.equal(refreshed.published?.suites.map((s) => [s.codename, s.packages]).sort(), [['bookworm', 5], ['bookworm-security', 2], ['bookworm-updates', 2]]);
});

test('refresh: a newer version whose dependency no suite has: the exact version alone is fetched, and the report says so', async () => {
  up.add('bookworm-security', { name: 'tool', version: '1.2', depends: 'nowhere-dep' });
  const report = await refreshUpdates(ctx, [recipe], { keyring: up.keyring });
  const c = report.codenames[0];
  assert.ok(c);
  assert.equal(c.newer, ['tool 1.2 (amd64)']);
  assert.is(c.fallback, true);
  assert.is(c.downloaded, 1);
  assert.is(c.warnings.length, 1);
  assert.match(c.warnings[0] ?? '', 'fetched the exact newer versions alone');
  assert.equal(suite('bookworm-security'), ['hello_1.1_amd64.deb', 'hello_1.2_amd64.deb', 'tool_1.2_amd64.deb']);
});

test('refresh: a failing codename does not stop the others; its own root apt-+updates (a recipe named updates has apt-updates); a member the pool index lacks is not guessed from its file name', async () => {
  up.add('bookworm-updates', { name: 'tool', version: '1.3' });
  // A listed member the pool index does not know: its file name says 9.9 (and would drop an epoch); it must not hide 1.3.
  const updatesList = suiteListPath(layout, 'bookworm-updates');
  const had = readFileSync(updatesList, 'utf8');
  writeFileSync(updatesList, [...had.split('\n').filter(Boolean), 'pool/main/t/tool/tool_9.9_amd64.deb'].sort().join('\n') + '\n');
  // A codename whose upstream is gone, listed before bookworm.
  writeFileSync(suiteListPath(layout, 'aardvark'), '');
  const gone = 'file:///nonexistent-nk-upstream/debian';
  const broken = makeRecipe({ name: 'broken', codename: 'aardvark', upstream: gone, updates: true, suites: ['aardvark', 'aardvark-updates', 'aardvark-security'], upstreams: { aardvark: gone, 'aardvark-updates': gone, 'aardvark-security': gone } });
  try {
    const report = await refreshUpdates(ctx, [broken, { ...recipe, name: 'updates' }], { keyring: up.keyring });
    assert.equal(report.codenames.map((c) => c.codename), ['aardvark', 'bookworm']);
    const [a, b] = report.codenames;
    assert.match(a?.failed ?? '', 'apt-get update failed for aardvark');
    assert.match(a?.warnings[0] ?? '', /^refresh of aardvark failed: /);
    assert.match(report.summary, '; failed: aardvark (');
    assert.is(b?.failed, undefined);
    assert.equal(b?.newer, ['tool 1.3 (amd64)']);
    assert.is(b?.downloaded, 1);
    assert.ok(existsSync(join(layout.state, 'warm', 'bookworm', 'apt-+updates', 'state', 'lists')));
    assert.not.ok(existsSync(join(layout.state, 'warm', 'bookworm', 'apt-updates')));
  } finally {
    rmSync(suiteListPath(layout, 'aardvark'));
    writeFileSync(updatesList, readFileSync(updatesList, 'utf8').split('\n').filter((l) => l && !l.endsWith('tool_9.9_amd64.deb')).join('\n') + '\n');
  }
});

test('refresh: a codename no recipe with update suites names is skipped and said so', async () => {
  const report = await refreshUpdates(ctx, [], { keyring: up.keyring });
  assert.equal(report.codenames.map((c) => [c.codename, c.skipped]), [['bookworm', 'no recipe of bookworm has update suites (their upstreams come from a recipe); skipped']]);
  assert.is(report.downloaded, 0);
});

test.after(async () => {
  await stopGpgAgent(ctx);
  up.cleanup();
  if (!process.env.NK_KEEP) rmSync(base, { recursive: true, force: true });
});

test.run();
