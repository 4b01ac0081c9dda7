/**
 * Whether an existing machine is what a build would make now (uptodate.ts),
 * against a mirror published with the real publish (apt-ftparchive, gpg):
 * new packages in the release make a machine built before them stale; a
 * new -security publication does not (it is upgradable, not stale); and a
 * machine that `upgrade` brought to the current release publication is current
 * again (its provenance names that publication and when it was upgraded).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Shell } from '../../src/shell.js';
import type { MirrorContext } from '../../src/mirror/context.js';
import { mirrorLayout, poolRelativePath, suiteListPath } from '../../src/mirror/layout.js';
import { publishMirror } from '../../src/mirror/publish.js';
import { stopGpgAgent } from '../../src/mirror/keys.js';
import { readPublication } from '../../src/rootfs/base-key.js';
import { machineState } from '../../src/machine/uptodate.js';
import { writeProvenance } from '../../src/machine/provenance.js';
import { FIRSTBOOT } from '../../src/machine/paths.js';
import { makeConfig, makeRecipe } from '../helpers/config.js';
import { makeDeb } from '../helpers/debs.js';
import { firstBootMarker, provenanceRecord } from '../helpers/records.js';

const base = mkdtempSync(join(tmpdir(), 'nk-uptodate-'));
const config = makeConfig(base);
const sh = new Shell({ log: () => {} });
const ctx: MirrorContext = { sh, config, log: () => {} };
const layout = mirrorLayout(config);
const SUITES = ['bookworm', 'bookworm-updates', 'bookworm-security'];
const recipe = makeRecipe({ name: 'bookworm-minimal', suites: SUITES, updates: true });

function add(suite: string, name: string, version: string): void {
  const rel = poolRelativePath({ name, version, architecture: 'amd64' });
  mkdirSync(dirname(join(layout.root, rel)), { recursive: true });
  copyFileSync(makeDeb(join(base, 'debs'), { name, version }), join(layout.root, rel));
  const list = suiteListPath(layout, suite);
  const old = existsSync(list) ? readFileSync(list, 'utf8').split('\n').filter(Boolean) : [];
  mkdirSync(dirname(list), { recursive: true });
  writeFileSync(list, `${[...new Set([...old, rel])].sort().join('\n')}\n`);
}

/** A copy machine "m" built from the current publications, first boot done; extra provenance fields on top. */
async function machineBuiltNow(extra: Record<string, unknown> = {}): Promise<void> {
  const root = join(config.machines.dir, 'm');
  mkdirSync(join(root, 'etc'), { recursive: true });
  const release = await readPublication(config, 'bookworm');
  const suites: Record<string, string> = {};
  for (const s of SUITES) suites[s] = (await readPublication(config, s)).inReleaseSha256;
  await writeProvenance(
    sh,
    root,
    provenanceRecord({ machine: 'm', recipe: recipe.name, recipeHash: recipe.hash, inReleaseSha256: release.inReleaseSha256, indexDigest: release.indexDigest, suites, ...extra }),
  );
  mkdirSync(join(root, dirname(FIRSTBOOT.marker)), { recursive: true });
  writeFileSync(join(root, FIRSTBOOT.marker), firstBootMarker());
}

test.after(async () => {
  await stopGpgAgent(ctx);
  await sh.remove(base);
});

test('current when built from the current publications; a new -security publication leaves it current', async () => {
  add('bookworm', 'hello', '1.0-1');
  await publishMirror(ctx);
  await machineBuiltNow();
  assert.is((await machineState({ sh, config }, recipe, 'm')).state, 'current');
  add('bookworm-security', 'hello', '1.0-1+deb12u1');
  await publishMirror(ctx);
  const after = await machineState({ sh, config }, recipe, 'm');
  assert.is(after.state, 'current', 'update suites bring upgrades, not another machine');
});

test('new packages in the release: stale; upgraded from that very release publication: current again', async () => {
  const built = await readPublication(config, 'bookworm');
  add('bookworm', 'hello', '1.1-1');
  await publishMirror(ctx);
  const now = await readPublication(config, 'bookworm');
  assert.is.not(now.indexDigest, built.indexDigest);
  // The machine's provenance still names the build's publication.
  const root = join(config.machines.dir, 'm');
  const prov = JSON.parse(readFileSync(join(root, 'var/lib/nspawn-kit/provenance.json'), 'utf8')) as Record<string, unknown>;
  assert.is(prov.indexDigest, built.indexDigest);
  const stale = await machineState({ sh, config }, recipe, 'm');
  assert.is(stale.state, 'stale');
  assert.match(stale.state === 'stale' ? stale.why : '', "the mirror's package set for bookworm changed since it was built");
  // What `upgrade` records: each suite's InRelease it upgraded from, and when; build-time fields unchanged.
  const suites: Record<string, string> = {};
  for (const s of SUITES) suites[s] = (await readPublication(config, s)).inReleaseSha256;
  await writeProvenance(sh, root, provenanceRecord({ ...(prov as object), suites, upgradedAt: '2026-11-30T12:00:00.000Z' }));
  assert.is((await machineState({ sh, config }, recipe, 'm')).state, 'current');
  // Upgraded, but from an older release publication: still stale.
  await writeProvenance(sh, root, provenanceRecord({ ...(prov as object), suites: { ...suites, bookworm: built.inReleaseSha256 }, upgradedAt: '2026-11-30T12:00:00.000Z' }));
  assert.is((await machineState({ sh, config }, recipe, 'm')).state, 'stale');
});

test.run();
