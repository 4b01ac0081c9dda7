/**
 * Cache warming against the real network (deb.debian.org): bookworm minbase
 * plus "hello" lands in a temp mirror, a second warm downloads nothing, and
 * debootstrap builds a minbase root from the warmed mirror with --keyring
 * (no --no-check-gpg): issue 3's "done when". The recipe has the update
 * suites (issue 13): the three suite lists exist after warming, and every
 * .deb filed under a suite is named by that suite's real (verified) list.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Shell } from '../../src/shell.js';
import type { MirrorContext } from '../../src/mirror/context.js';
import { warmRecipes } from '../../src/mirror/warm.js';
import { mirrorLayout, suiteListPath } from '../../src/mirror/layout.js';
import { stopGpgAgent } from '../../src/mirror/keys.js';
import { makeConfig, makeRecipe } from '../helpers/config.js';
import { snapshotTree } from '../helpers/tree.js';
import { readSuiteLists } from '../../src/mirror/upstream-lists.js';
import { createHash } from 'node:crypto';

const UPSTREAM = 'http://deb.debian.org/debian';
const reachable = await fetch(`${UPSTREAM}/dists/bookworm/InRelease`, { method: 'HEAD', signal: AbortSignal.timeout(20_000) }).then(
  (r) => r.ok,
  () => false,
);

// /var/tmp: the same big file system as the state dir would be, and not a tmpfs.
const base = mkdtempSync('/var/tmp/nk-warm-');
const config = makeConfig(base);
const lines: string[] = [];
const ctx: MirrorContext = { sh: new Shell({ log: (l) => lines.push(l) }), config, log: (l) => lines.push(l) };
const SUITES = ['bookworm', 'bookworm-updates', 'bookworm-security'];
const recipe = makeRecipe({
  name: 'bookworm-minimal',
  codename: 'bookworm',
  variant: 'minbase',
  upstream: UPSTREAM,
  updates: true,
  suites: SUITES,
  upstreams: { bookworm: UPSTREAM, 'bookworm-updates': UPSTREAM, 'bookworm-security': 'http://deb.debian.org/debian-security' },
  packages: ['hello'],
});
const layout = mirrorLayout(config);

test('dry-run on a fresh mirror: prints the plan, changes nothing', async () => {
  const fresh = mkdtempSync('/var/tmp/nk-warm-dry-');
  try {
    const planned: string[] = [];
    const before = snapshotTree(fresh);
    const report = await warmRecipes({ sh: new Shell({ dryRun: true, log: (l) => planned.push(l) }), config: makeConfig(fresh) }, [recipe]);
    assert.equal(snapshotTree(fresh), before);
    assert.ok(report.dryRun);
    assert.is(report.downloaded, 0);
    assert.ok(planned.some((l) => l.includes('[dry-run] apt-get ') && l.endsWith(' update')));
    assert.ok(planned.some((l) => l.includes('[dry-run] debootstrap --print-debs --variant=minbase')));
    assert.match(report.summary, '[dry-run]');
  } finally {
    spawnSync('rm', ['-rf', '--one-file-system', '--', fresh]);
  }
});

test('first warm: the minbase set and hello are downloaded, imported, listed and published', async () => {
  if (!reachable) return console.log(`  skipped: ${UPSTREAM} is not reachable`);
  const report = await warmRecipes(ctx, [recipe]);
  const r = report.recipes[0];
  assert.ok(r);
  assert.ok(r.baseSet > 50, `base set of ${r.baseSet}`);
  assert.is(r.needed, r.downloaded + r.alreadyInPool);
  assert.ok(report.downloaded > 50);
  assert.is(r.import?.rejected.length, 0);
  const lists = Object.fromEntries(SUITES.map((s) => [s, readFileSync(suiteListPath(layout, s), 'utf8').split('\n').filter(Boolean)]));
  const suite = lists.bookworm ?? [];
  // Each needed .deb is in the pool once, filed under one or more suites.
  assert.is(new Set(Object.values(lists).flat()).size, r.needed);
  assert.equal(Object.keys(r.suites), SUITES);
  for (const pkg of ['hello', 'base-files', 'dpkg', 'apt', 'libc6', 'debian-archive-keyring']) {
    assert.ok(suite.some((p) => p.includes(`/${pkg}_`)), `${pkg} in the suite list`);
  }
  for (const rel of suite) assert.ok(existsSync(join(layout.root, rel)), rel);
  assert.ok(report.published?.suites.some((s) => s.codename === 'bookworm' && s.packages === suite.length));
  assert.ok(existsSync(join(layout.dists, 'bookworm', 'InRelease')));
  // Every .deb filed under a suite is named, exact bytes, by that suite's list as apt fetched and verified it from Debian.
  const sources = SUITES.map((s) => ({ uri: recipe.upstreams[s] ?? UPSTREAM, suite: s, components: ['main'], signedBy: '' }));
  const root = { dir: join(layout.state, 'warm', 'bookworm', 'apt-bookworm-minimal'), architecture: 'amd64', options: [], env: {} };
  const upstream = await readSuiteLists(ctx.sh, root, sources, SUITES);
  for (const s of SUITES) {
    const named = new Set((upstream.get(s) ?? []).map((p) => `${p.name}_${p.version}_${p.architecture}_${p.sha256}`));
    assert.ok(named.size > 0, `${s}: the real list was fetched`);
    for (const rel of lists[s] ?? []) {
      const path = join(layout.root, rel);
      const fields = spawnSync('dpkg-deb', ['--showformat=${Package}_${Version}_${Architecture}', '--show', '--', path], { encoding: 'utf8' }).stdout.trim();
      const sha = createHash('sha256').update(readFileSync(path)).digest('hex');
      assert.ok(named.has(`${fields}_${sha}`), `${rel} filed under ${s} is named by the real ${s} list`);
    }
  }
  // The warm root is private and has no trusted flags.
  const warmSources = readFileSync(join(root.dir, 'etc', 'sources.list.d', 'warm.sources'), 'utf8');
  assert.match(warmSources, 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg');
  assert.match(warmSources, 'Suites: bookworm-security');
  assert.not.match(warmSources, /trusted|allow-insecure/i);
});

test('second warm: nothing changed, nothing downloaded, and it says so', async () => {
  if (!reachable) return console.log(`  skipped: ${UPSTREAM} is not reachable`);
  const report = await warmRecipes(ctx, [recipe]);
  assert.is(report.downloaded, 0);
  assert.is(report.bytesDownloaded, 0);
  assert.is(report.recipes[0]?.baseSetCached, true);
  assert.is(report.recipes[0]?.alreadyInPool, report.recipes[0]?.needed);
  assert.match(report.summary, 'nothing to download');
});

test('debootstrap builds bookworm minbase from the warmed mirror, verifying with --keyring', async () => {
  if (!reachable) return console.log(`  skipped: ${UPSTREAM} is not reachable`);
  await stopGpgAgent(ctx);
  const target = join(base, 'rootfs');
  const res = spawnSync('debootstrap', ['--variant=minbase', `--keyring=${layout.publicKeyring}`, 'bookworm', target, `file://${layout.root}`], {
    encoding: 'utf8',
    timeout: 1_200_000,
  });
  const out = `${res.stdout}\n${res.stderr}`;
  assert.is(res.status, 0, out.slice(-2000));
  assert.match(out, 'Valid Release signature');
  assert.not.match(out, /Retrieving .* from http/);
  assert.ok(existsSync(join(target, 'etc', 'debian_version')));
  assert.ok(existsSync(join(target, 'usr', 'bin', 'apt-get')));
});

test.after(() => {
  spawnSync('rm', ['-rf', '--one-file-system', '--', base]);
});

test.run();
