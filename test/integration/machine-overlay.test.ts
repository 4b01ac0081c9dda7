// Overlay machines with the real kernel overlayfs (no container is started):
// create layers a machine over a cached base and copies nothing, the base is
// never written, a view mounts both, bases in use survive pruning, and rm
// releases a superseded base. Booting an overlay machine with systemd-nspawn
// is covered end to end in test/e2e/machine-lifecycle.test.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Shell, exists } from '../../src/shell.js';
import type { Config } from '../../src/config/types.js';
import { createMachine } from '../../src/machine/create.js';
import { removeMachine, listMachines } from '../../src/machine/list.js';
import { basesInUse, machineStorage, withMachineView } from '../../src/machine/storage.js';
import { readProvenance } from '../../src/machine/provenance.js';
import { pruneBases, basePath, type BaseRef } from '../../src/rootfs/base-cache.js';
import { mountsUnder } from '../../src/rootfs/builddir.js';
import { makeConfig, makeRecipe } from '../helpers/config.js';
import { snapshotTree, diffTrees } from '../helpers/tree.js';
import { exportKey, stopAgent, testKeyring } from '../helpers/gpg.js';

const sh = new Shell({ log: () => {} });
const base = mkdtempSync(join(tmpdir(), 'nk-overlay-'));
const config = makeConfig(base);

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
  writeFileSync(join(dir, 'usr/bin/bash'), '');
  writeFileSync(join(dir, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\n');
  writeFileSync(join(dir, 'etc/shadow'), 'root:*:19000:0:99999:7:::\n', { mode: 0o640 });
  writeFileSync(join(dir, 'etc/group'), 'root:x:0:\nshadow:x:42:\n');
  writeFileSync(join(dir, 'usr/lib/os-release'), 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n');
  symlinkSync('../usr/lib/os-release', join(dir, 'etc/os-release'));
  writeFileSync(join(dir, 'etc/hostname'), 'base\n');
  writeFileSync(join(dir, 'marker'), marker);
  return { key, dir, inReleaseSha256: 'f'.repeat(64), indexDigest: 'e'.repeat(64) };
}

const recipe = makeRecipe({ name: 'web' });
const withClone = (clone: Config['machines']['clone']): Config => ({ ...config, machines: { ...config.machines, clone } });

setupKey();
const ref1 = fakeBase('web', '0123456789abcdef', 'one');

test('create with an overlay: the machine holds only its changes, the base is not written, nspawn gets Overlay=', async () => {
  const before = snapshotTree(ref1.dir);
  const report = await createMachine({ sh, config }, recipe, 'web1', { base: { ref: ref1, hit: true } });
  assert.is(report.storage, 'overlay');
  const root = join(config.machines.dir, 'web1');
  assert.equal(diffTrees(before, snapshotTree(ref1.dir)), [], 'the base is unchanged');
  assert.is(readFileSync(join(ref1.dir, 'etc/hostname'), 'utf8'), 'base\n');
  // Only the upper directory: injected files, the seeds nspawn and the watcher need; not the base's marker.
  assert.not.ok(await exists(join(root, 'marker')));
  assert.is(readFileSync(join(root, 'etc/hostname'), 'utf8'), 'test-recipe\n');
  assert.is(readFileSync(join(root, 'usr/lib/os-release'), 'utf8'), readFileSync(join(ref1.dir, 'usr/lib/os-release'), 'utf8'));
  assert.ok(statSync(join(root, 'var/cache/apt/archives/partial')).isDirectory());
  const prov = await readProvenance(root);
  assert.is(prov?.storage, 'overlay');
  assert.is(prov?.base, 'web-0123456789abcdef');
  assert.equal(await machineStorage(config, root, 'web1'), { kind: 'overlay', base: 'web-0123456789abcdef', lower: ref1.dir });
  const settings = readFileSync(join(config.machines.dir, 'web1.nspawn'), 'utf8');
  assert.match(settings, new RegExp(`^Overlay=${ref1.dir}:${root}:/$`, 'm'));
  // Nothing mounted or left behind.
  assert.equal(await mountsUnder(base), []);
  assert.equal(readdirSync(config.machines.dir).filter((e) => e.startsWith('.')), []);
});

test('a view mounts base and machine together; writes land in the machine, never in the base', async () => {
  const root = join(config.machines.dir, 'web1');
  const seen = await withMachineView(sh, config, 'web1', root, async (view) => {
    assert.ok((await mountsUnder(view)).includes(view), 'the view is a mount');
    writeFileSync(join(view, 'marker'), 'changed in the machine');
    return readFileSync(join(view, 'etc/hostname'), 'utf8') + readFileSync(join(view, 'usr/bin/bash'), 'utf8');
  });
  assert.is(seen, 'test-recipe\n');
  assert.is(readFileSync(join(root, 'marker'), 'utf8'), 'changed in the machine');
  assert.is(readFileSync(join(ref1.dir, 'marker'), 'utf8'), 'one');
  assert.equal(await mountsUnder(base), []);
  assert.equal(readdirSync(config.machines.dir).filter((e) => e.startsWith('.')), []);
});

test('list shows the overlay and its base; a provenance pointing outside the base cache is not trusted', async () => {
  const [info] = await listMachines({ sh, config });
  assert.is(info?.storage, 'overlay');
  assert.is(info?.base, ref1.dir);
  assert.ok((info?.sizeBytes ?? 0) < 1024 * 1024, 'the machine directory is small');
  // A record edited from inside the container: the base name must be "<recipe>-<16 hex>" under <stateDir>/base.
  const provPath = join(config.machines.dir, 'web1', 'var/lib/nspawn-kit/provenance.json');
  const good = readFileSync(provPath, 'utf8');
  try {
    writeFileSync(provPath, JSON.stringify({ ...JSON.parse(good), base: '../../../etc' }));
    // parseProvenance refuses the record; machineStorage then treats the machine as a plain copy.
    assert.equal(await machineStorage(config, join(config.machines.dir, 'web1'), 'web1'), { kind: 'copy' });
  } finally {
    writeFileSync(provPath, good);
  }
});

test('a base an overlay machine stands on survives pruning; rm releases it once a newer base exists', async () => {
  const ref2 = fakeBase('web', 'fedcba9876543210', 'two');
  // ref2 is newer than ref1 (the next create would use it).
  const later = new Date(Date.now() + 60_000);
  utimesSync(ref2.dir, later, later);
  assert.equal([...(await basesInUse(config))], ['web-0123456789abcdef']);
  assert.equal(await pruneBases(sh, config, 'web', ref2.key, await basesInUse(config)), []);
  assert.ok(await exists(ref1.dir));
  // What a SIGKILLed systemd-nspawn leaves beside an overlay machine; another machine's work dir stays.
  const dirs = config.machines.dir;
  writeFileSync(join(dirs, '.#web1.lck'), '');
  mkdirSync(join(dirs, '.#web10123456789abcdef', 'work'), { recursive: true });
  mkdirSync(join(dirs, '.#web12aaaaaaaaaaaaaaaa'));
  const report = await removeMachine({ sh, config }, 'web1');
  assert.ok(report.removed.includes(join(dirs, '.#web1.lck')) && report.removed.includes(join(dirs, '.#web10123456789abcdef')), report.removed.join(' '));
  assert.equal(readdirSync(dirs).filter((e) => e.startsWith('.#')), ['.#web12aaaaaaaaaaaaaaaa']);
  rmSync(join(dirs, '.#web12aaaaaaaaaaaaaaaa'), { recursive: true });
  assert.is(report.releasedBase, ref1.dir);
  assert.not.ok(await exists(ref1.dir));
  assert.ok(await exists(ref2.dir), 'the newest base stays: it is the cache');
  // An overlay machine on the newest base: rm keeps the base.
  await createMachine({ sh, config }, recipe, 'web2', { base: { ref: ref2, hit: true } });
  const again = await removeMachine({ sh, config }, 'web2');
  assert.is(again.releasedBase, undefined);
  assert.ok(await exists(ref2.dir));
});

test('a machine whose base is gone says so and how to recover', async () => {
  const ref3 = fakeBase('web', '1111111111111111', 'three');
  await createMachine({ sh, config }, recipe, 'web3', { base: { ref: ref3, hit: true } });
  rmSync(ref3.dir, { recursive: true, force: true });
  let error: Error | undefined;
  await machineStorage(config, join(config.machines.dir, 'web3'), 'web3').catch((e: Error) => (error = e));
  assert.match(error?.message ?? '', /web3 is an overlay over the base .* which is missing/);
  const [info] = await listMachines({ sh, config }, { sizes: false });
  assert.match(info?.problem ?? '', /base .* is missing/);
  await removeMachine({ sh, config }, 'web3');
});

test('machines.clone "copy", and "auto" with PrivateUsers, copy the whole base', async () => {
  const ref = fakeBase('web', '2222222222222222', 'four');
  const copy = await createMachine({ sh, config: withClone('copy') }, recipe, 'web4', { base: { ref, hit: true } });
  assert.is(copy.storage, 'copy');
  assert.is(readFileSync(join(config.machines.dir, 'web4', 'marker'), 'utf8'), 'four');
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
});

test.after(() => {
  rmSync(base, { recursive: true, force: true });
});

test.run();
