/**
 * The base key over every suite of a recipe (files on disk), and the choice
 * of the older base a new one is derived from: its record read back from
 * the root as hostile, the derive planned by a dry-run create (copy the
 * parent, the install step, no bootstrap). The real derive (debootstrap,
 * nspawn, apt) is in test/e2e/machine-lifecycle.test.ts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Shell, exists } from '../../src/shell.js';
import { OperationError } from '../../src/errors.js';
import { baseCacheDir, basePath, resolveBase, resolveBaseOrPlan, type BaseRef } from '../../src/rootfs/base-cache.js';
import { BASE_RECORD, baseRecordOf, findParentBase, readBaseRecord, writeBaseRecord } from '../../src/machine/base-refresh.js';
import { createMachine } from '../../src/machine/create.js';
import { makeConfig, makeRecipe } from '../helpers/config.js';

const sh = new Shell({ log: () => {} });
const SUITES = ['bookworm', 'bookworm-updates', 'bookworm-security'];
const recipe = makeRecipe({ name: 'web', baseHash: '1'.repeat(64), suites: SUITES, packages: ['dbus'] });
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

function inRelease(suite: string, date: string, packagesHash: string): string {
  return `Origin: nspawn-kit\nSuite: ${suite}\nDate: ${date}\nSHA256:\n ${packagesHash.repeat(64)} 1234 main/binary-amd64/Packages\n`;
}

async function publish(config: ReturnType<typeof makeConfig>, suite: string, text: string): Promise<void> {
  await mkdir(join(config.mirror.root, 'dists', suite), { recursive: true });
  await writeFile(join(config.mirror.root, 'dists', suite, 'InRelease'), text);
}

async function setup(suites = SUITES): Promise<{ base: string; config: ReturnType<typeof makeConfig> }> {
  const base = await mkdtemp(join(tmpdir(), 'nk-baserefresh-'));
  const config = makeConfig(base);
  for (const suite of suites) await publish(config, suite, inRelease(suite, 'Sat, 28 Nov 2026 03:17:00 UTC', 'a'));
  return { base, config };
}

async function fakeBase(dir: string): Promise<void> {
  await mkdir(join(dir, 'etc'), { recursive: true });
  await writeFile(join(dir, 'etc', 'os-release'), 'ID=debian\n');
}

test('the key covers every suite: a missing update suite is an error naming it and saying to warm or publish', async () => {
  const { base, config } = await setup(['bookworm', 'bookworm-updates']);
  try {
    await resolveBase(config, recipe);
    assert.unreachable('resolved without bookworm-security');
  } catch (err) {
    assert.instance(err, OperationError);
    assert.match((err as Error).message, /no publication for bookworm-security, an update suite of recipe web: \S+\/dists\/bookworm-security\/InRelease is missing/);
    assert.match((err as OperationError).hint ?? '', /nspawn-kit mirror warm web.*nspawn-kit mirror publish.*"updates": false/);
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});

test('the key: a date-only re-signing of any suite keeps it, new packages in -security change it; suites names each InRelease', async () => {
  const { base, config } = await setup();
  try {
    const ref = await resolveBase(config, recipe);
    assert.equal(ref.suites, Object.fromEntries(SUITES.map((s) => [s, sha(inRelease(s, 'Sat, 28 Nov 2026 03:17:00 UTC', 'a'))])));
    assert.is(ref.inReleaseSha256, ref.suites['bookworm']);
    // A release-only recipe of the same base hash has another key: its suites differ.
    const releaseOnly = await resolveBase(config, { ...recipe, suites: ['bookworm'] });
    assert.is.not(releaseOnly.key, ref.key);
    assert.equal(releaseOnly.suites, { bookworm: ref.inReleaseSha256 });

    await publish(config, 'bookworm-security', inRelease('bookworm-security', 'Sun, 29 Nov 2026 03:17:00 UTC', 'a'));
    const resigned = await resolveBase(config, recipe);
    assert.is(resigned.key, ref.key, 'the nightly re-signing keeps the base');
    assert.is.not(resigned.suites['bookworm-security'], ref.suites['bookworm-security']);

    await publish(config, 'bookworm-security', inRelease('bookworm-security', 'Sun, 29 Nov 2026 03:17:00 UTC', 'b'));
    const updated = await resolveBase(config, recipe);
    assert.is.not(updated.key, ref.key, 'a new package in -security: a new base');
    assert.is(updated.indexDigest, ref.indexDigest, 'the release is the same');
    assert.is(updated.dir, basePath(config, 'web', updated.key));
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});

test('a dry run on a mirror without the update suites plans the base with a placeholder key', async () => {
  const { base, config } = await setup(['bookworm']);
  try {
    const planned = await resolveBaseOrPlan(config, recipe, true);
    assert.is(planned.planned, true);
    assert.equal(planned.suites, {});
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});

test('findParentBase: a base of the same recipe and baseHash with a valid record, the newest; others are ignored', async () => {
  const { base, config } = await setup();
  try {
    const target = await resolveBase(config, recipe);
    const mk = async (key: string, record: ((ref: BaseRef) => object) | undefined): Promise<string> => {
      const dir = basePath(config, 'web', key);
      await fakeBase(dir);
      const ref = { ...target, key, dir };
      if (record) {
        await mkdir(join(dir, 'var/lib/nspawn-kit'), { recursive: true });
        await writeFile(join(dir, BASE_RECORD), JSON.stringify(record(ref)));
      }
      return dir;
    };
    assert.is(await findParentBase(config, recipe, target), undefined, 'no base at all');
    await mk('0000000000000001', undefined);
    await mk('0000000000000002', (ref) => baseRecordOf({ ...recipe, baseHash: '2'.repeat(64) }, ref));
    await mk('0000000000000003', (ref) => ({ ...baseRecordOf(recipe, ref), key: '00000000000000ff' }));
    await mk('0000000000000004', (ref) => ({ ...baseRecordOf(recipe, ref), extra: 'x' }));
    assert.is(await findParentBase(config, recipe, target), undefined, 'no record, another baseHash, another key, an invalid record');
    const older = await mk('0000000000000005', (ref) => ({ ...baseRecordOf(recipe, ref), builtAt: '2026-11-01T00:00:00.000Z' }));
    const newer = await mk('0000000000000006', (ref) => ({ ...baseRecordOf(recipe, ref), builtAt: '2026-11-20T00:00:00.000Z' }));
    assert.is((await findParentBase(config, recipe, target))?.dir, newer);
    // A record that is a link is not followed: that base is not a parent.
    await rm(join(newer, BASE_RECORD));
    await symlink(join(older, BASE_RECORD), join(newer, BASE_RECORD));
    assert.is(await readBaseRecord(newer), undefined);
    assert.is((await findParentBase(config, recipe, target))?.dir, older);
    // The target itself never is its own parent.
    await fakeBase(target.dir);
    await writeBaseRecord(sh, target.dir, { ...baseRecordOf(recipe, target), builtAt: '2026-12-01T00:00:00.000Z' });
    assert.is((await findParentBase(config, recipe, target))?.dir, older);
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});

test('create --dry-run with an older base of the recipe plans copying and upgrading it, not a bootstrap', async () => {
  const { base, config } = await setup();
  try {
    await writeFile(join(config.mirror.root, 'mirror.gpg'), 'binary key');
    await writeFile(join(config.mirror.root, 'mirror.asc'), '-----BEGIN PGP PUBLIC KEY BLOCK-----\n');
    const target = await resolveBase(config, recipe);
    const old = basePath(config, 'web', '00000000000000aa');
    await fakeBase(old);
    await writeBaseRecord(sh, old, baseRecordOf(recipe, { ...target, key: '00000000000000aa', dir: old }));
    const dry = new Shell({ dryRun: true, log: () => {} });
    const seen: string[] = [];
    const report = await createMachine({ sh: dry, config: { ...config, machines: { ...config.machines, clone: 'copy' } } }, recipe, 'web1', {
      settingsDir: join(base, 'nspawn'),
      onProgress: (p) => seen.push(`${p.stage}: ${p.message}`),
    });
    assert.is(report.derivedFrom, 'web-00000000000000aa');
    assert.equal(report.provenance.suites, target.suites);
    const plan = dry.planned.join('\n');
    assert.not.match(plan, /^debootstrap /m);
    const build = new RegExp(`^cp -a --reflink=auto -- ${old}/\\. (${baseCacheDir(config)}/\\.nspawn-kit-build-base-web-[0-9a-f]+/root)$`, 'm');
    assert.match(plan, build);
    assert.match(plan, /^systemd-nspawn .*--private-network.* -- \/bin\/sh -c .*upgrade --with-new-pkgs.* dbus$/m);
    assert.match(plan, new RegExp(`^mv -T -- \\S+/root ${target.dir}$`, 'm'));
    assert.ok(seen.some((l) => l === `base: base cache miss: bringing web-00000000000000aa up to date into ${target.dir}`), seen.join('\n'));
    assert.ok(await exists(old), 'a dry run removes nothing');
    assert.not.ok(await exists(target.dir));
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});

test.run();
