// Overlay machines with the real kernel overlayfs (no container is started):
// create mounts the machine on the host over a cached base and copies nothing,
// so <machines.dir>/<name> is a whole root while mounted; its changes land in
// <stateDir>/overlay/<name>/upper; the host record (not the provenance inside
// the root) says which base; mounting is idempotent; rm refuses a busy mount and
// then leaves nothing; bases in use survive pruning; a killed create and an
// old-layout machine are recovered. Booting an overlay machine with
// systemd-nspawn is covered end to end in test/e2e/machine-lifecycle.test.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { existsSync, cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Shell, exists } from '../../src/shell.js';
import type { Config } from '../../src/config/types.js';
import { createMachine } from '../../src/machine/create.js';
import { removeMachine, listMachines } from '../../src/machine/list.js';
import { basesInUse, withMachineView } from '../../src/machine/storage.js';
import { resolveMachine } from '../../src/machine/handle.js';
import { ensureMounted } from '../../src/machine/overlay-mount.js';
import { migrateMachine } from '../../src/machine/migrate.js';
import { readProvenance } from '../../src/machine/provenance.js';
import { pruneBases, basePath, type BaseRef } from '../../src/rootfs/base-cache.js';
import { mountsUnder } from '../../src/rootfs/builddir.js';
import { makeConfig, makeRecipe } from '../helpers/config.js';
import { snapshotTree, diffTrees } from '../helpers/tree.js';
import { exportKey, stopAgent, testKeyring } from '../helpers/gpg.js';

const sh = new Shell({ log: () => {} });
const base = mkdtempSync(join(tmpdir(), 'nk-overlay-'));
const config = makeConfig(base);
const overlayDir = join(config.stateDir, 'overlay');

function setupKey(): void {
  const env = testKeyring(base, 'gnupg');
  mkdirSync(config.mirror.root, { recursive: true });
  writeFileSync(join(config.mirror.root, 'mirror.asc'), exportKey(env, true));
  stopAgent(env);
}

/** A small base root as the base cache stores it. */
function fakeBase(recipe: string, key: string, marker: string): BaseRef {
  const dir = basePath(config, recipe, key);
  for (const d of ['etc/apt/sources.list.d', 'etc/skel', 'usr/bin', 'usr/lib', 'usr/share/keyrings', 'home', 'var/lib', 'var/cache/apt/archives/partial']) mkdirSync(join(dir, d), { recursive: true });
  writeFileSync(join(dir, 'usr/bin/bash'), 'the base shell');
  writeFileSync(join(dir, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\n');
  writeFileSync(join(dir, 'etc/shadow'), 'root:*:19000:0:99999:7:::\n', { mode: 0o640 });
  writeFileSync(join(dir, 'etc/group'), 'root:x:0:\nshadow:x:42:\n');
  writeFileSync(join(dir, 'usr/lib/os-release'), 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n');
  symlinkSync('../usr/lib/os-release', join(dir, 'etc/os-release'));
  writeFileSync(join(dir, 'etc/hostname'), 'base\n');
  writeFileSync(join(dir, 'marker'), marker);
  // 2 MiB only the base has: a machine's size that counted the base would show it.
  writeFileSync(join(dir, 'usr/lib/big'), Buffer.alloc(2 << 20));
  return { key, dir, inReleaseSha256: 'f'.repeat(64), indexDigest: 'e'.repeat(64), suites: { bookworm: 'f'.repeat(64) } };
}

/** Mounts at exactly `point`, as [fstype, upperdir] pairs, from /proc/self/mountinfo. */
function mountsAt(point: string): string[][] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[4] === point)
    .map((f) => {
      const rest = f.slice(f.indexOf('-') + 1);
      return [rest[0] ?? '', (rest[2] ?? '').split(',').find((o) => o.startsWith('upperdir='))?.slice(9) ?? ''];
    });
}

const recipe = makeRecipe({ name: 'web' });
const withClone = (clone: Config['machines']['clone']): Config => ({ ...config, machines: { ...config.machines, clone } });
const rootOf = (name: string) => join(config.machines.dir, name);
const upperOf = (name: string) => join(overlayDir, name, 'upper');

setupKey();
const ref1 = fakeBase('web', '0123456789abcdef', 'one');

test('create: the machine directory is a whole root, mounted on the host; the changes are in the upper directory', async () => {
  const before = snapshotTree(ref1.dir);
  const report = await createMachine({ sh, config }, recipe, 'web1', { base: { ref: ref1, hit: true } });
  assert.is(report.storage, 'overlay');
  const root = rootOf('web1');
  assert.equal(report.handle.storage, {
    kind: 'overlay',
    recipe: 'web',
    base: 'web-0123456789abcdef',
    lower: ref1.dir,
    paths: { state: join(overlayDir, 'web1'), upper: upperOf('web1'), work: join(overlayDir, 'web1', 'work'), record: join(overlayDir, 'web1', 'machine.json') },
  });
  // The Done-when criterion: the base's files under the machine directory while mounted.
  assert.equal(readdirSync(join(root, 'usr/bin')), ['bash']);
  assert.is(readFileSync(join(root, 'usr/bin/bash'), 'utf8'), 'the base shell');
  assert.is(readFileSync(join(root, 'marker'), 'utf8'), 'one');
  assert.is(readFileSync(join(root, 'etc/hostname'), 'utf8'), 'test-recipe\n');
  assert.equal(mountsAt(root), [['overlay', upperOf('web1')]]);
  // The upper directory holds what was written, not the base.
  assert.is(readFileSync(join(upperOf('web1'), 'etc/hostname'), 'utf8'), 'test-recipe\n');
  assert.not.ok(await exists(join(upperOf('web1'), 'marker')));
  assert.not.ok(await exists(join(upperOf('web1'), 'usr/bin/bash')));
  assert.equal(diffTrees(before, snapshotTree(ref1.dir)), [], 'the base is unchanged');
  // The host's record, and the provenance (for display) inside the root.
  assert.equal(JSON.parse(readFileSync(join(overlayDir, 'web1', 'machine.json'), 'utf8')), { version: 1, machine: 'web1', recipe: 'web', base: 'web-0123456789abcdef' });
  const prov = await readProvenance(root);
  assert.equal([prov?.storage, prov?.base], ['overlay', 'web-0123456789abcdef']);
  assert.not.match(readFileSync(join(config.machines.dir, 'web1.nspawn'), 'utf8'), /Overlay=/);
  // Only the machine's own mount; no build dir left anywhere.
  assert.equal(await mountsUnder(base), [root]);
  assert.equal(readdirSync(config.machines.dir).filter((e) => e.startsWith('.')), []);
  assert.equal(readdirSync(overlayDir), ['web1']);
});

test('writes through the machine directory land in the upper directory; mounting again is a no-op; an unmounted machine is mounted on use', async () => {
  const root = rootOf('web1');
  writeFileSync(join(root, 'marker'), 'changed in the machine');
  assert.is(readFileSync(join(upperOf('web1'), 'marker'), 'utf8'), 'changed in the machine');
  assert.is(readFileSync(join(ref1.dir, 'marker'), 'utf8'), 'one');
  const handle = await resolveMachine(config, 'web1');
  assert.is(await ensureMounted(sh, handle), false, 'already mounted');
  assert.equal(mountsAt(root).length, 1);
  // After a reboot (or a kill right after the commit) the directory is a bare mount point.
  await sh.write(['umount', ['--', root]]);
  assert.equal(readdirSync(root), []);
  // A work dir left by a crash: the kernel empties it at mount.
  mkdirSync(join(overlayDir, 'web1', 'work', 'work', 'stale'), { recursive: true });
  const seen = await withMachineView(sh, config, 'web1', root, async (view) => readFileSync(join(view, 'marker'), 'utf8') + readFileSync(join(view, 'usr/bin/bash'), 'utf8'));
  assert.is(seen, 'changed in the machinethe base shell');
  assert.equal(mountsAt(root), [['overlay', upperOf('web1')]]);
});

test('list shows storage, base and mount state; the base comes from the host record, not from the provenance in the root', async () => {
  const [info] = await listMachines({ sh, config });
  assert.equal([info?.name, info?.storage, info?.base, info?.mounted, info?.firstBoot], ['web1', 'overlay', ref1.dir, true, 'pending']);
  assert.ok((info?.sizeBytes ?? 0) > 0 && (info?.sizeBytes ?? 0) < 1024 * 1024, `the size is the upper directory, not the base's 2 MiB (${info?.sizeBytes})`);
  // Root in the container rewrites its provenance to name another base.
  const provPath = join(rootOf('web1'), 'var/lib/nspawn-kit/provenance.json');
  const good = readFileSync(provPath, 'utf8');
  try {
    writeFileSync(provPath, JSON.stringify({ ...JSON.parse(good), base: 'web-fedcba9876543210' }));

    const h = await resolveMachine(config, 'web1');
    assert.is(h.storage.kind === 'overlay' ? h.storage.lower : '', ref1.dir);
    assert.equal([...(await basesInUse(config))], ['web-0123456789abcdef']);
  } finally {
    writeFileSync(provPath, good);
  }
  // Unmounted: still listed, its records read from the upper directory.
  await sh.write(['umount', ['--', rootOf('web1')]]);
  const [off] = await listMachines({ sh, config }, { sizes: false });
  assert.equal([off?.recipe, off?.mounted, off?.firstBoot, off?.problem], ['web', false, 'pending', undefined]);
  await ensureMounted(sh, await resolveMachine(config, 'web1'));
});

test('rm refuses a busy mount and keeps the machine; then removes everything and releases a superseded base', async () => {
  const ref2 = fakeBase('web', 'fedcba9876543210', 'two');
  // ref2 is newer than ref1 (the next create would use it).
  const later = new Date(Date.now() + 60_000);
  utimesSync(ref2.dir, later, later);
  assert.equal([...(await basesInUse(config))], ['web-0123456789abcdef']);
  assert.equal(await pruneBases(sh, config, 'web', ref2.key, await basesInUse(config)), []);
  assert.ok(await exists(ref1.dir));
  const root = rootOf('web1');
  const busy = spawn('sleep', ['60'], { cwd: join(root, 'usr/bin'), stdio: 'ignore' });
  try {
    await new Promise((r) => setTimeout(r, 200));
    let error: Error | undefined;
    await removeMachine({ sh, config }, 'web1').catch((e: Error) => (error = e));
    assert.match(error?.message ?? '', /could not unmount .*web1/);
    assert.match((error as { hint?: string } | undefined)?.hint ?? '', /fuser -vm/);
    assert.equal(mountsAt(root), [['overlay', upperOf('web1')]], 'still mounted');
    assert.ok(await exists(join(overlayDir, 'web1', 'machine.json')), 'nothing removed');
  } finally {
    busy.kill('SIGKILL');
    await new Promise((r) => busy.once('exit', r));
  }
  const report = await removeMachine({ sh, config }, 'web1');
  assert.equal(report.unmounted, [root]);
  assert.ok(report.removed.includes(root) && report.removed.includes(join(overlayDir, 'web1')), report.removed.join(' '));
  assert.not.ok(await exists(root));
  assert.equal(readdirSync(overlayDir), []);
  assert.equal(await mountsUnder(base), []);
  assert.not.ok(await exists(join(config.machines.dir, 'web1.nspawn')));
  assert.is(report.releasedBase, ref1.dir);
  assert.not.ok(await exists(ref1.dir));
  assert.ok(await exists(ref2.dir), 'the newest base stays: it is the cache');
  // An overlay machine on the newest base: rm keeps the base.
  await createMachine({ sh, config }, recipe, 'web2', { base: { ref: ref2, hit: true } });
  const again = await removeMachine({ sh, config }, 'web2');
  assert.is(again.releasedBase, undefined);
  assert.ok(await exists(ref2.dir));
});

test('a dry-run rm plans the unmount and changes nothing; a state dir reached through a symlink is still recognised as mounted', async () => {
  const ref = basePath(config, 'web', 'fedcba9876543210');
  // The state dir through a symlink: mountinfo shows upperdir as given to mount.
  const linked = { ...config, stateDir: join(base, 'state-link') };
  symlinkSync(config.stateDir, linked.stateDir);
  try {
    await createMachine({ sh, config: linked }, recipe, 'web8', { base: { ref: { ...ref1, key: 'fedcba9876543210', dir: join(linked.stateDir, 'base', 'web-fedcba9876543210') }, hit: true } });
    const handle = await resolveMachine(linked, 'web8');
    assert.is(await ensureMounted(sh, handle), false, 'recognised as mounted');
    assert.equal(mountsAt(rootOf('web8')).length, 1);
    const dry = new Shell({ dryRun: true, log: () => {} });
    const before = snapshotTree(join(overlayDir, 'web8'));
    const settings = existsSync(join(linked.machines.dir, 'web8.nspawn'));
    assert.ok(settings, 'create wrote the settings file beside the root');
    await removeMachine({ sh: dry, config: linked }, 'web8');
    assert.is(existsSync(join(linked.machines.dir, 'web8.nspawn')), settings, 'the settings file beside the root is left alone');
    assert.ok(dry.planned.includes(`umount -- ${rootOf('web8')}`), dry.planned.join('\n'));
    assert.ok(dry.planned.some((p) => p.startsWith('rm -rf --one-file-system -- ') && p.endsWith('/overlay/web8')), dry.planned.join('\n'));
    assert.equal(mountsAt(rootOf('web8')).length, 1, 'still mounted');
    assert.equal(diffTrees(before, snapshotTree(join(overlayDir, 'web8'))), []);
    await removeMachine({ sh, config: linked }, 'web8');
    assert.equal(readdirSync(overlayDir), []);
  } finally {
    rmSync(linked.stateDir);
  }
  assert.ok(await exists(ref));
});

test('a create killed midway: its build dir (with a mount) and its bare mount point are cleaned by the next create', async () => {
  const ref = basePath(config, 'web', 'fedcba9876543210');
  const build = join(overlayDir, '.nspawn-kit-build-web7-0123456789ab');
  for (const d of ['root', 'upper', 'work']) mkdirSync(join(build, d), { recursive: true });
  // The owner is a process that is gone.
  writeFileSync(join(build, 'owner.json'), JSON.stringify({ pid: 4194000, startTime: '1' }));
  await sh.write(['mount', ['-t', 'overlay', '-o', `lowerdir=${ref},upperdir=${build}/upper,workdir=${build}/work`, '--', 'overlay', join(build, 'root')]]);
  mkdirSync(rootOf('web7'));
  const report = await createMachine({ sh, config }, recipe, 'web7', { base: { ref: { ...ref1, key: 'fedcba9876543210', dir: ref }, hit: true } });
  assert.is(report.storage, 'overlay');
  assert.equal(readdirSync(overlayDir), ['web7']);
  assert.equal(await mountsUnder(base), [rootOf('web7')]);
  assert.is(readFileSync(join(rootOf('web7'), 'marker'), 'utf8'), 'two');
  await removeMachine({ sh, config }, 'web7');
});

test('an old-layout overlay machine: refused with the command that migrates it; migrate makes it a mounted whole root', async () => {
  const ref = fakeBase('web', '3333333333333333', 'three');
  // The old layout: the directory is the upper directory, nspawn stacked it with Overlay=.
  const made = await createMachine({ sh, config: withClone('copy') }, recipe, 'old1', { base: { ref, hit: true } });
  assert.is(made.storage, 'copy');
  const root = rootOf('old1');
  const prov = JSON.parse(readFileSync(join(root, 'var/lib/nspawn-kit/provenance.json'), 'utf8')) as Record<string, unknown>;
  const upperOnly = join(base, 'old1-upper');
  mkdirSync(join(upperOnly, 'var/lib'), { recursive: true });
  mkdirSync(join(upperOnly, 'usr/lib'), { recursive: true });
  cpSync(join(root, 'etc'), join(upperOnly, 'etc'), { recursive: true, verbatimSymlinks: true });
  cpSync(join(root, 'var/lib/nspawn-kit'), join(upperOnly, 'var/lib/nspawn-kit'), { recursive: true });
  cpSync(join(root, 'usr/lib/os-release'), join(upperOnly, 'usr/lib/os-release'));
  rmSync(root, { recursive: true });
  cpSync(upperOnly, root, { recursive: true, verbatimSymlinks: true });
  writeFileSync(join(root, 'var/lib/nspawn-kit/provenance.json'), JSON.stringify({ ...prov, storage: 'overlay', base: 'web-3333333333333333' }));
  const settings = join(config.machines.dir, 'old1.nspawn');
  writeFileSync(settings, readFileSync(settings, 'utf8').replace('[Files]\n', `[Files]\n# This directory holds only the machine's changes, over the read-only base it was created from.\nOverlay=${ref.dir}:${root}:/\n`));
  assert.not.ok(await exists(join(root, 'usr/bin/bash')), 'the old directory alone is not a whole root');

  assert.is((await resolveMachine(config, 'old1')).storage.kind, 'legacy-overlay');
  let error: Error | undefined;
  await ensureMounted(sh, await resolveMachine(config, 'old1')).catch((e: Error) => (error = e));
  assert.match((error as { hint?: string } | undefined)?.hint ?? '', /nspawn-kit migrate old1/);
  const listed = (await listMachines({ sh, config }, { sizes: false })).find((m) => m.name === 'old1');
  assert.match(listed?.problem ?? '', /old overlay layout: run `nspawn-kit migrate old1`/);
  assert.ok((await basesInUse(config)).has('web-3333333333333333'), 'its base is kept before it is migrated');

  const report = await migrateMachine({ sh, config }, 'old1');
  assert.equal(report, { name: 'old1', migrated: true, upper: upperOf('old1') });
  assert.is(readFileSync(join(root, 'usr/bin/bash'), 'utf8'), 'the base shell');
  assert.is(readFileSync(join(root, 'etc/hostname'), 'utf8'), 'test-recipe\n');
  assert.is(readFileSync(join(upperOf('old1'), 'etc/hostname'), 'utf8'), 'test-recipe\n');
  assert.equal(mountsAt(root), [['overlay', upperOf('old1')]]);
  assert.not.match(readFileSync(settings, 'utf8'), /Overlay=|only the machine's changes/);
  assert.match(readFileSync(settings, 'utf8'), /^BindReadOnly=.*:\/var\/local\/nspawn-kit-mirror$/m);
  assert.equal(JSON.parse(readFileSync(join(overlayDir, 'old1', 'machine.json'), 'utf8')), { version: 1, machine: 'old1', recipe: 'web', base: 'web-3333333333333333' });
  assert.equal(await migrateMachine({ sh, config }, 'old1'), { name: 'old1', migrated: false, reason: 'already in the host-mounted layout' });
  await removeMachine({ sh, config }, 'old1');
  assert.equal(readdirSync(overlayDir), []);
  rmSync(upperOnly, { recursive: true });
});

test('a machine whose base is gone says so and how to recover', async () => {
  const ref3 = fakeBase('web', '1111111111111111', 'four');
  await createMachine({ sh, config }, recipe, 'web3', { base: { ref: ref3, hit: true } });
  await sh.write(['umount', ['--', rootOf('web3')]]);
  rmSync(ref3.dir, { recursive: true, force: true });
  let error: Error | undefined;
  await ensureMounted(sh, await resolveMachine(config, 'web3')).catch((e: Error) => (error = e));
  assert.match(error?.message ?? '', /web3 is an overlay over the base .* which is missing/);
  const [info] = (await listMachines({ sh, config }, { sizes: false })).filter((m) => m.name === 'web3');
  assert.match(info?.problem ?? '', /base .* is missing/);
  await removeMachine({ sh, config }, 'web3');
  assert.equal(readdirSync(overlayDir), []);
});

test('machines.clone "copy", and "auto" with PrivateUsers, copy the whole base', async () => {
  const ref = fakeBase('web', '2222222222222222', 'five');
  const copy = await createMachine({ sh, config: withClone('copy') }, recipe, 'web4', { base: { ref, hit: true } });
  assert.is(copy.storage, 'copy');
  assert.is(readFileSync(join(config.machines.dir, 'web4', 'marker'), 'utf8'), 'five');
  assert.equal(mountsAt(rootOf('web4')), []);
  assert.not.match(readFileSync(join(config.machines.dir, 'web4.nspawn'), 'utf8'), /Overlay=/);
  const messages: string[] = [];
  const pu = makeRecipe({ name: 'web', nspawn: { network: 'host', binds: [], bindsReadOnly: [], privateUsers: 'pick' } });
  const auto = await createMachine({ sh, config }, pu, 'web5', { base: { ref, hit: true }, onProgress: (p) => messages.push(p.message) });
  assert.is(auto.storage, 'copy');
  assert.ok(messages.some((m) => /PrivateUsers/.test(m)), 'says why it copies');
  let error: Error | undefined;
  await createMachine({ sh, config: withClone('overlay') }, pu, 'web6', { base: { ref, hit: true } }).catch((e: Error) => (error = e));
  assert.match(error?.message ?? '', /machines\.clone is "overlay", but recipe web uses PrivateUsers/);
  assert.not.ok(await exists(join(config.machines.dir, 'web6')));
  for (const m of ['web4', 'web5']) await removeMachine({ sh, config }, m);
  assert.ok(statSync(overlayDir).isDirectory());
});

test.after(async () => {
  for (const point of await mountsUnder(base)) await sh.write(['umount', ['-l', '--', point]], { nothrow: true });
  rmSync(base, { recursive: true, force: true });
});

test.run();
