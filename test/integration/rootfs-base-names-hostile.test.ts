/**
 * A machine's provenance record is written by root in the container; its
 * "recipe" value picks the bases `rm` may release. It is compared as a plain
 * string, never compiled into a pattern: "|" or "(" matches nothing, a nested
 * quantifier does not hang.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, mkdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Shell, exists } from '../../src/shell.js';
import { baseCacheDir, isBaseOf, listBases } from '../../src/rootfs/base-cache.js';
import { releaseBase } from '../../src/machine/storage.js';
import { removeMachine } from '../../src/machine/list.js';
import { PROVENANCE, type Provenance } from '../../src/machine/paths.js';
import { makeConfig } from '../helpers/config.js';
import { provenanceRecord } from '../helpers/records.js';

const sh = new Shell({ log: () => {} });
const OLD = 'web-0123456789abcdef';
const NEW = 'web-fedcba9876543210';
const OTHERS = ['web-db-0123456789abcdef', 'webXdb-0123456789abcdef', 'web-0123456789ABCDEF', 'web-0123456789abcdef0', 'web-'];

async function setup(): Promise<{ base: string; config: ReturnType<typeof makeConfig> }> {
  const base = await mkdtemp(join(tmpdir(), 'nk-basenames-'));
  const config = makeConfig(base);
  for (const name of [OLD, NEW, ...OTHERS]) await mkdir(join(baseCacheDir(config), name, 'etc'), { recursive: true });
  // NEW is the newest base of "web", the one the next create reuses.
  await utimes(join(baseCacheDir(config), OLD), new Date('2026-01-01'), new Date('2026-01-01'));
  return { base, config };
}

/** A record as root in the container may write it: the recipe is any text (so not through the schema, which refuses "|"). */
function provenance(recipe: string, base: string): Provenance {
  return { ...provenanceRecord({ machine: 'evil', storage: 'overlay', base }), recipe };
}

test('isBaseOf: exactly "<recipe>-<16 lowercase hex>"', () => {
  assert.ok(isBaseOf(OLD, 'web'));
  assert.ok(isBaseOf('web-db-0123456789abcdef', 'web-db'));
  for (const other of OTHERS.filter((o) => o !== 'web-db-0123456789abcdef')) assert.not.ok(isBaseOf(other, 'web'), other);
  assert.not.ok(isBaseOf('web-db-0123456789abcdef', 'web'));
  assert.not.ok(isBaseOf('webXdb-0123456789abcdef', 'web.db'));
  assert.not.ok(isBaseOf('-0123456789abcdef', ''));
});

test('listBases: a recipe name is compared as text; regex metacharacters match nothing and cannot hang', async () => {
  const { base, config } = await setup();
  try {
    assert.equal(await listBases(config, 'web'), [OLD, NEW]);
    assert.equal(await listBases(config, 'web-db'), ['web-db-0123456789abcdef']);
    assert.equal(await listBases(config, 'web.db'), []);
    for (const hostile of ['|', '(', '.*', 'web|', '[', '([\\w-]*)*!', 'w.b', '']) {
      const t = Date.now();
      assert.equal(await listBases(config, hostile), [], hostile);
      assert.ok(Date.now() - t < 1000, `${hostile} took ${Date.now() - t} ms`);
    }
    // A nested quantifier against a long base name: catastrophic backtracking if compiled.
    const long = `${'a'.repeat(40)}-0123456789abcdef`;
    await mkdir(join(baseCacheDir(config), long));
    const t = Date.now();
    assert.equal(await listBases(config, '([\\w-]*)*!'), []);
    assert.ok(Date.now() - t < 1000, `took ${Date.now() - t} ms`);
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});

test('releaseBase: a record whose recipe is "|" or "(" releases no base of another recipe', async () => {
  const { base, config } = await setup();
  try {
    for (const recipe of ['|', '(', '.*']) {
      assert.is(await releaseBase(sh, config, provenance(recipe, OLD)), undefined, recipe);
      assert.ok(await exists(join(baseCacheDir(config), OLD)), recipe);
    }
    // The same record with the true recipe does release the old base (the check above can fail).
    assert.is(await releaseBase(sh, config, provenance('web', OLD)), join(baseCacheDir(config), OLD));
    assert.not.ok(await exists(join(baseCacheDir(config), OLD)));
    assert.ok(await exists(join(baseCacheDir(config), NEW)));
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});

test('rm of a machine whose provenance names recipe "|" or "(": removed promptly, every base stays', async () => {
  const { base, config } = await setup();
  try {
    for (const recipe of ['|', '(', '([\\w-]*)*!']) {
      const root = join(config.machines.dir, 'evil');
      await mkdir(join(root, 'etc'), { recursive: true });
      const file = join(root, PROVENANCE);
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, JSON.stringify(provenance(recipe, OLD)));
      const t = Date.now();
      const report = await removeMachine({ sh, config }, 'evil');
      assert.ok(Date.now() - t < 5000, `rm took ${Date.now() - t} ms`);
      assert.equal(report.removed, [root]);
      assert.is(report.releasedBase, undefined);
      assert.not.ok(await exists(root));
      for (const name of [OLD, NEW, ...OTHERS]) assert.ok(await exists(join(baseCacheDir(config), name)), `${recipe}: ${name}`);
    }
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});

test.run();
