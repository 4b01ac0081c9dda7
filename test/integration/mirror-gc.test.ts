/**
 * gc against real .debs and real publications: newest `keep` versions per
 * package and architecture stay listed (epochs and tildes ordered as dpkg
 * does); pool files go only when no suite lists them and no live or recent
 * publication references them; dry-run changes nothing.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Shell } from '../../src/shell.js';
import type { MirrorContext } from '../../src/mirror/context.js';
import { importArchives } from '../../src/mirror/import.js';
import { archiveOwner } from '../../src/triggers/archive-owner.js';
import { gcMirror } from '../../src/mirror/gc.js';
import { mirrorLayout, suiteListPath } from '../../src/mirror/layout.js';
import { publishMirror, recordStamp } from '../../src/mirror/publish.js';
import { stopGpgAgent } from '../../src/mirror/keys.js';
import { makeConfig } from '../helpers/config.js';
import { makeDeb } from '../helpers/debs.js';
import { snapshotTree } from '../helpers/tree.js';

const bases: string[] = [];
const HOUR = 3_600_000;

async function setup(keep = 2) {
  const base = mkdtempSync(join(tmpdir(), 'nk-gc-'));
  bases.push(base);
  const config = makeConfig(base);
  config.mirror.keep = keep;
  config.mirror.graceHours = 48;
  const ctx: MirrorContext = { sh: new Shell({ log: () => {} }), config };
  const archive = join(base, 'archives');
  // foo: 1:0.9-1 is the newest (epoch), then 2.0-1, then 2.0~rc1-1 (tilde sorts before), then 1.0-1.
  for (const version of ['1.0-1', '1:0.9-1', '2.0~rc1-1', '2.0-1']) makeDeb(archive, { name: 'foo', version });
  for (const version of ['1.0', '1.1~beta1', '1.1']) makeDeb(archive, { name: 'bar', version, arch: 'all' });
  makeDeb(archive, { name: 'solo', version: '5' });
  await importArchives(ctx, config.mirror.archives, archiveOwner);
  return { base, config, ctx, layout: mirrorLayout(config) };
}

function suite(ctx: MirrorContext, codename = 'bookworm'): string[] {
  return readFileSync(suiteListPath(mirrorLayout(ctx.config), codename), 'utf8').split('\n').filter(Boolean);
}

const P = {
  foo10: 'pool/main/f/foo/foo_1.0-1_amd64.deb',
  foo09e: 'pool/main/f/foo/foo_0.9-1_amd64.deb',
  foorc: 'pool/main/f/foo/foo_2.0~rc1-1_amd64.deb',
  foo20: 'pool/main/f/foo/foo_2.0-1_amd64.deb',
  bar10: 'pool/main/b/bar/bar_1.0_all.deb',
  barb: 'pool/main/b/bar/bar_1.1~beta1_all.deb',
  bar11: 'pool/main/b/bar/bar_1.1_all.deb',
  solo: 'pool/main/s/solo/solo_5_amd64.deb',
};

test('keeps the newest `keep` versions per package (epochs, tildes); nothing published: superseded files go at once', async () => {
  const { ctx, layout } = await setup(2);
  const report = await gcMirror(ctx);
  assert.equal(report.removedFromSuites.map((r) => r.pool).sort(), [P.bar10, P.foo10, P.foorc].sort());
  assert.equal(suite(ctx), [P.barb, P.bar11, P.foo09e, P.foo20, P.solo].sort());
  assert.equal(report.deleted.map((d) => d.pool).sort(), [P.bar10, P.foo10, P.foorc].sort());
  assert.ok(report.bytesFreed > 0);
  for (const rel of [P.bar10, P.foo10, P.foorc]) assert.not.ok(existsSync(join(layout.root, rel)), rel);
  for (const rel of suite(ctx)) assert.ok(existsSync(join(layout.root, rel)), rel);
  // Idempotent.
  const again = await gcMirror(ctx);
  assert.is(again.removedFromSuites.length + again.deleted.length, 0);
});

test('a file another suite still lists stays in the pool; emptied directories go', async () => {
  const { ctx, layout, config } = await setup(1);
  mkdirSync(layout.suites, { recursive: true });
  writeFileSync(suiteListPath(layout, 'trixie'), `${P.foo10}\n`);
  const report = await gcMirror(ctx);
  assert.ok(report.removedFromSuites.some((r) => r.codename === 'bookworm' && r.pool === P.foo10));
  assert.ok(existsSync(join(layout.root, P.foo10)), 'still listed by trixie');
  assert.equal(suite(ctx, 'trixie'), [P.foo10]);
  // keep=1 removes bar 1.0 and 1.1~beta1: bar keeps its directory (1.1 stays); an orphan's directory goes.
  const orphanDir = join(layout.pool, 'o', 'orphan');
  mkdirSync(orphanDir, { recursive: true });
  writeFileSync(join(orphanDir, 'orphan_1_amd64.deb'), 'not listed anywhere');
  const r2 = await gcMirror({ ...ctx, config });
  assert.ok(r2.deleted.some((d) => d.pool === 'pool/main/o/orphan/orphan_1_amd64.deb'));
  assert.not.ok(existsSync(orphanDir));
  assert.not.ok(existsSync(join(layout.pool, 'o')));
  assert.ok(existsSync(join(layout.pool, 'b', 'bar')));
});

test('grace: the live publication and recent ones protect their pool files; older records do not', async () => {
  const { ctx, layout } = await setup(2);
  await publishMirror(ctx); // live publication references all 8 files
  await stopGpgAgent(ctx);
  const first = await gcMirror(ctx);
  assert.is(first.removedFromSuites.length, 3);
  assert.is(first.deleted.length, 0, 'the live publication references them');
  assert.equal(first.keptForGrace.sort(), [P.bar10, P.foo10, P.foorc].sort());
  // Two days later, still the live publication: kept.
  const later = await gcMirror(ctx, { now: new Date(Date.now() + 49 * HOUR) });
  assert.is(later.deleted.length, 0);
  // A new publication no longer references them; the old one is within the grace period: kept.
  await publishMirror(ctx);
  await stopGpgAgent(ctx);
  const recent = await gcMirror(ctx);
  assert.is(recent.deleted.length, 0);
  assert.is(recent.keptForGrace.length, 3);
  // After the grace period the old record protects nothing: deleted.
  const expired = await gcMirror(ctx, { now: new Date(Date.now() + 49 * HOUR) });
  assert.equal(expired.deleted.map((d) => d.pool).sort(), [P.bar10, P.foo10, P.foorc].sort());
  for (const d of expired.deleted) assert.not.ok(existsSync(join(layout.root, d.pool)));
});

test('publication records written by hand (the publisher\'s format) are honoured by their time', async () => {
  const { ctx, layout } = await setup(2);
  const dir = join(layout.publications, 'bookworm');
  mkdirSync(dir, { recursive: true });
  const now = Date.now();
  writeFileSync(join(dir, `${recordStamp(new Date(now - 72 * HOUR))}.files`), `${P.foo10}\n`); // old, not protecting
  writeFileSync(join(dir, `${recordStamp(new Date(now - 1 * HOUR))}.files`), `${P.foorc}\n`); // recent
  writeFileSync(join(dir, `${recordStamp(new Date(now - 0.5 * HOUR))}.files`), `${P.bar10}\n`); // newest (live)
  const report = await gcMirror(ctx, { now: new Date(now) });
  assert.equal(report.deleted.map((d) => d.pool), [P.foo10]);
  assert.equal(report.keptForGrace.sort(), [P.bar10, P.foorc].sort());
});

test('dry-run (option or dry-run Shell) changes nothing and reports the plan', async () => {
  const { base, ctx } = await setup(1);
  const before = snapshotTree(base);
  const planned: string[] = [];
  const report = await gcMirror({ ...ctx, sh: new Shell({ log: (l) => planned.push(l) }) }, { dryRun: true });
  assert.ok(report.dryRun);
  assert.is(report.removedFromSuites.length, 5);
  assert.is(report.deleted.length, 5);
  assert.equal(snapshotTree(base), before);
  assert.ok(planned.some((l) => l.startsWith('[dry-run] rm -f --')));
  const viaShell = await gcMirror({ ...ctx, sh: new Shell({ dryRun: true, log: () => {} }) });
  assert.is(viaShell.deleted.length, 5);
  assert.equal(snapshotTree(base), before);
});

test.after(() => {
  for (const b of bases) rmSync(b, { recursive: true, force: true });
});

test.run();
