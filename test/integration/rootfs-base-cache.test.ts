import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, mkdir, readFile, readdir, rm, symlink, writeFile, stat, readlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Shell, exists } from '../../src/shell.js';
import { OperationError } from '../../src/errors.js';
import {
  baseCacheDir,
  checkFreeSpace,
  cloneBase,
  inReleaseSha256,
  listBases,
  resolveBase,
  storeBase,
} from '../../src/rootfs/base-cache.js';
import { BUILD_PREFIX } from '../../src/rootfs/builddir.js';
import { createMachine } from '../../src/machine/create.js';
import { makeConfig, makeRecipe } from '../helpers/config.js';

const sh = new Shell({ log: () => {} });

async function setup(): Promise<{ base: string; config: ReturnType<typeof makeConfig> }> {
  const base = await mkdtemp(join(tmpdir(), 'nk-basecache-'));
  const config = makeConfig(base);
  await mkdir(join(config.mirror.root, 'dists', 'bookworm'), { recursive: true });
  await writeFile(join(config.mirror.root, 'dists', 'bookworm', 'InRelease'), inRelease('Sat, 28 Nov 2026 03:17:00 UTC', 'a'));
  return { base, config };
}

/** An (unsigned) InRelease body: a date and the SHA256 line of one Packages index. */
function inRelease(date: string, packagesHash: string): string {
  return `Origin: nspawn-kit\nDate: ${date}\nSHA256:\n ${packagesHash.repeat(64)} 1234 main/binary-amd64/Packages\n`;
}

async function fakeRoot(root: string, marker: string): Promise<void> {
  await mkdir(join(root, 'etc'), { recursive: true });
  await writeFile(join(root, 'etc', 'os-release'), 'ID=debian\n');
  await writeFile(join(root, 'marker'), marker);
}

test('no publication for the codename: a clear error that says to warm or publish', async () => {
  const { base, config } = await setup();
  try {
    await inReleaseSha256(config, 'trixie');
    assert.unreachable();
  } catch (err) {
    assert.instance(err, OperationError);
    assert.match((err as Error).message, /no publication for trixie/);
    assert.match((err as OperationError).hint ?? '', /mirror warm/);
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});

test('store a base atomically, reuse it while the publication holds, replace and prune on a new one', async () => {
  const { base, config } = await setup();
  try {
    const recipe = makeRecipe({ name: 'web', baseHash: '1'.repeat(64) });
    const ref1 = await resolveBase(config, recipe);
    assert.not.ok(await exists(ref1.dir));
    await storeBase({ sh, config }, 'web', ref1, async (b) => fakeRoot(b.root, 'one'));
    assert.is(await readFile(join(ref1.dir, 'marker'), 'utf8'), 'one');
    // A base of another recipe whose name starts the same must survive pruning.
    const other = join(baseCacheDir(config), 'web-db-0123456789abcdef');
    await fakeRoot(other, 'other');
    assert.equal((await resolveBase(config, recipe)).dir, ref1.dir, 'same recipe + publication: same base');

    // A republish that only renews the dates keeps the key (the nightly refresh).
    await writeFile(join(config.mirror.root, 'dists', 'bookworm', 'InRelease'), inRelease('Sun, 29 Nov 2026 03:17:00 UTC', 'a'));
    const renewed = await resolveBase(config, recipe);
    assert.is(renewed.dir, ref1.dir);
    assert.is.not(renewed.inReleaseSha256, ref1.inReleaseSha256);
    // New packages change it.
    await writeFile(join(config.mirror.root, 'dists', 'bookworm', 'InRelease'), inRelease('Sun, 29 Nov 2026 03:17:00 UTC', 'b'));
    const ref2 = await resolveBase(config, recipe);
    assert.is.not(ref2.dir, ref1.dir);
    const stored = await storeBase({ sh, config }, 'web', ref2, async (b) => fakeRoot(b.root, 'two'));
    assert.equal(stored.pruned, [ref1.dir.split('/').at(-1)]);
    assert.equal(await listBases(config, 'web'), [ref2.dir.split('/').at(-1)]);
    assert.ok(await exists(other));
    assert.equal((await readdir(baseCacheDir(config))).filter((e) => e.startsWith(BUILD_PREFIX)), []);
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});

test('a failing base build stores nothing and leaves no build dir', async () => {
  const { base, config } = await setup();
  try {
    const ref = await resolveBase(config, makeRecipe({ name: 'web' }));
    try {
      await storeBase({ sh, config }, 'web', ref, async (b) => {
        await fakeRoot(b.root, 'half');
        throw new OperationError('apt-get failed');
      });
      assert.unreachable();
    } catch (err) {
      assert.match((err as Error).message, /apt-get failed/);
    }
    assert.not.ok(await exists(ref.dir));
    assert.equal(await readdir(baseCacheDir(config)), []);
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});

test('cloneBase keeps symlinks, modes and odd names, and copies nothing outside', async () => {
  const { base } = await setup();
  try {
    const src = join(base, 'src');
    const dst = join(base, 'dst');
    await fakeRoot(src, 'm');
    await symlink('/etc/os-release', join(src, 'abs-link'));
    await writeFile(join(src, '--version'), 'x');
    await writeFile(join(src, '$(touch pwned) a b'), 'y', { mode: 0o600 });
    await mkdir(dst);
    await cloneBase(sh, src, dst);
    assert.is(await readlink(join(dst, 'abs-link')), '/etc/os-release');
    assert.is(await readFile(join(dst, '--version'), 'utf8'), 'x');
    assert.is((await stat(join(dst, '$(touch pwned) a b'))).mode & 0o777, 0o600);
    assert.not.ok(await exists(join(base, 'pwned')));
    assert.not.ok(await exists(join(dst, 'pwned')));
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});

test('checkFreeSpace refuses with a clear message before anything is written', async () => {
  const { base } = await setup();
  try {
    await checkFreeSpace(base, 1024, 'a test');
    try {
      await checkFreeSpace(base, Number.MAX_SAFE_INTEGER, 'a test');
      assert.unreachable();
    } catch (err) {
      assert.match((err as Error).message, /not enough free space for a test .* needed, .* free; nothing was changed/);
    }
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});

test('create --dry-run plans bootstrap, install, overlay (or copy) and rename, and writes nothing', async () => {
  const { base, config } = await setup();
  try {
    await writeFile(join(config.mirror.root, 'mirror.gpg'), 'binary key');
    await writeFile(join(config.mirror.root, 'mirror.asc'), '-----BEGIN PGP PUBLIC KEY BLOCK-----\n');
    const dry = new Shell({ dryRun: true, log: () => {} });
    const report = await createMachine({ sh: dry, config }, makeRecipe({ name: 'web', packages: ['dbus'] }), 'web1', { settingsDir: join(base, 'nspawn') });
    assert.is(report.fromBaseCache, false);
    const plan = dry.planned.join('\n');
    for (const step of [/^debootstrap --variant=minbase --keyring=\S+mirror\.gpg .* file:\/\//m, /^systemd-nspawn .*--private-network.* -- \/bin\/sh -c .* dbus$/m, /^mount -t overlay -o lowerdir=\S+\/base\/web-\S+,upperdir=\S+\/upper,workdir=\S+\/work -- overlay \S+\/root$/m, /^mv -T -- \S+\/state\/overlay\/\.nspawn-kit-build-web1-\S+ \S+\/state\/overlay\/web1$/m, /^mount -t overlay -o lowerdir=\S+\/base\/web-\S+,upperdir=\S+\/state\/overlay\/web1\/upper,workdir=\S+\/state\/overlay\/web1\/work -- overlay \S+\/machines\/web1$/m, /nspawn\/web1\.nspawn/]) {
      assert.match(plan, step);
    }
    assert.not.match(plan, /^cp -a --reflink/m, 'an overlay machine copies nothing');
    // machines.clone "copy": the base is copied instead.
    const dryCopy = new Shell({ dryRun: true, log: () => {} });
    await createMachine({ sh: dryCopy, config: { ...config, machines: { ...config.machines, clone: 'copy' } } }, makeRecipe({ name: 'web', packages: ['dbus'] }), 'web1', { settingsDir: join(base, 'nspawn') });
    assert.match(dryCopy.planned.join('\n'), /^cp -a --reflink=auto -- /m);
    assert.not.match(dryCopy.planned.join('\n'), /^mount /m);
    assert.not.ok(await exists(config.machines.dir));
    assert.not.ok(await exists(baseCacheDir(config)));
    assert.not.ok(await exists(join(base, 'nspawn')));
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});

test.run();
