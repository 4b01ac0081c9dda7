/**
 * Recipe inheritance of nested blocks (nspawn): a child that sets part of a
 * block inherits the rest from its parent field by field, and only what no
 * recipe of the chain sets gets the default. The bundled recipes resolve to
 * exactly what they resolved to before (hash and baseHash written down).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import { BUNDLED_RECIPES, resolveAllRecipes, resolveRecipe } from '../../src/config/recipes.js';
import type { HostFacts } from '../../src/config/types.js';
import { makeConfig } from '../helpers/config.js';

const host: HostFacts = { codename: 'bookworm', architecture: 'amd64', systemdPid1: false, aptSources: { bookworm: 'http://127.0.0.1:9/debian' } };

function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'nk-inherit-'));
  return fn(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

const parent = { codename: 'bookworm', nspawn: { network: 'private', privateUsers: 'pick', bindsReadOnly: ['/srv/data:/data'] } };

test('inline recipes: a child setting only nspawn.binds keeps its parent\'s network, privateUsers and bindsReadOnly', async () => {
  await withDir(async (dir) => {
    writeFileSync(join(dir, '.nspawnrc.json'), JSON.stringify({ recipes: { parent, child: { extends: 'parent', nspawn: { binds: ['/srv/work:/work'] } } } }));
    const c = await loadConfig({ cwd: dir, host });
    assert.equal(resolveRecipe(c, 'child').nspawn, { network: 'private', binds: ['/srv/work:/work'], bindsReadOnly: ['/srv/data:/data'], privateUsers: 'pick' });
    assert.equal(resolveRecipe(c, 'parent').nspawn, { network: 'private', binds: [], bindsReadOnly: ['/srv/data:/data'], privateUsers: 'pick' });
  });
});

test('recipe files: three levels; each level overrides only what it sets, the defaults fill what none sets', async () => {
  await withDir(async (dir) => {
    mkdirSync(join(dir, 'r'));
    writeFileSync(join(dir, 'r', 'base.json'), JSON.stringify(parent));
    writeFileSync(join(dir, 'r', 'mid.json'), JSON.stringify({ extends: 'base', nspawn: { network: 'veth' } }));
    writeFileSync(join(dir, 'r', 'leaf.json'), JSON.stringify({ extends: 'mid', nspawn: { privateUsers: false, bindsReadOnly: [] } }));
    writeFileSync(join(dir, '.nspawnrc.json'), JSON.stringify({ recipeDirs: ['r'] }));
    const c = await loadConfig({ cwd: dir, host });
    assert.equal(resolveRecipe(c, 'mid').nspawn, { network: 'veth', binds: [], bindsReadOnly: ['/srv/data:/data'], privateUsers: 'pick' });
    // false and [] set by the child win over the parent's values (set, not unset).
    assert.equal(resolveRecipe(c, 'leaf').nspawn, { network: 'veth', binds: [], bindsReadOnly: [], privateUsers: false });
    // A partial block parses and resolves with defaults when there is no parent.
    writeFileSync(join(dir, 'r', 'alone.json'), JSON.stringify({ codename: 'bookworm', nspawn: { binds: ['/srv/x'] } }));
    const alone = resolveRecipe(await loadConfig({ cwd: dir, host }), 'alone');
    assert.equal(alone.nspawn, { network: 'host', binds: ['/srv/x'], bindsReadOnly: [], privateUsers: false });
  });
});

test('an nspawn block with a wrong value is still refused with its key path', async () => {
  await withDir(async (dir) => {
    writeFileSync(join(dir, '.nspawnrc.json'), JSON.stringify({ recipes: { x: { nspawn: { network: 'bridge' } } } }));
    try {
      await loadConfig({ cwd: dir, host });
      assert.unreachable('expected a ConfigError');
    } catch (err) {
      assert.match((err as { problems: string[] }).problems.join('\n'), 'recipes.x.nspawn.network');
    }
  });
});

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');
const B = BUNDLED_RECIPES;
// The canonical JSON of each bundled recipe's body and its hashes, as main
// computed them before inheritance became field by field (the keys of
// qgis-nightly-ubuntu are absolute paths under the checkout, ${B}).
const BUNDLED: Record<string, { canonical: string; hash?: string; baseHash: string }> = {
  'bookworm-minimal': {
    canonical: String.raw`{"bootstrap":"debootstrap","codename":"bookworm","components":["main"],"firstboot":"systemd","hostname":"bookworm-minimal","name":"bookworm-minimal","nspawn":{"binds":[],"bindsReadOnly":[],"network":"host","privateUsers":false},"packages":["systemd","systemd-sysv","dbus","systemd-resolved"],"refresh":true,"repositories":[],"steps":[],"users":[],"variant":"minbase"}`,
    hash: 'feb505b2f7d328f06e877998af88db28aafb53dbae547a9a8e67ed6fb3fdab8a',
    baseHash: 'fffdcc71721f8c1d66a9f606e57ccd66ce4d36e677fc692320c57646dd614d41',
  },
  qgis: {
    canonical: String.raw`{"bootstrap":"debootstrap","codename":"bookworm","components":["main"],"firstboot":"systemd","hostname":"qgis","name":"qgis","nspawn":{"binds":[],"bindsReadOnly":[],"network":"host","privateUsers":false},"packages":["systemd","systemd-sysv","dbus","systemd-resolved","sudo","qgis","python3-qgis","qgis-providers"],"refresh":true,"repositories":[],"steps":["su - user -c 'mkdir -p ~/apps/lib && echo \"export LD_LIBRARY_PATH=\\$LD_LIBRARY_PATH:\\$HOME/apps/lib/\" >> ~/.profile'"],"users":[{"groups":["sudo"],"name":"user","password":{"policy":"locked"},"shell":"/bin/bash","sshKeys":[],"uid":1976}],"variant":"minbase"}`,
    hash: '0adde0c53b4e4daff0f853f31c66869e8cf1d095c9c774da0c97c374d642680b',
    baseHash: '98729197cc86290808b9bbddd25818fff67d3281c0c0334eb128ab4bf24fba64',
  },
  'qgis-nightly-ubuntu': {
    canonical: String.raw`{"bootstrap":"debootstrap","codename":"jammy","components":["main","universe"],"firstboot":"rc.local","hostname":"qgisbuilds","name":"qgis-nightly-ubuntu","nspawn":{"binds":[],"bindsReadOnly":[],"network":"host","privateUsers":false},"packages":["systemd","systemd-sysv","dbus","sudo","qgis","python3-qgis"],"refresh":false,"repositories":[{"components":["main"],"enabled":true,"key":"${B}/keys/qgis-archive.asc","name":"qgis-nightly","suite":"jammy","uri":"https://qgis.org/ubuntugis-nightly"},{"components":["main"],"enabled":true,"key":"${B}/keys/ubuntugis-unstable.asc","name":"ubuntugis-unstable","suite":"jammy","uri":"http://ppa.launchpad.net/ubuntugis/ubuntugis-unstable/ubuntu"}],"steps":["su - user -c 'echo \"export LD_LIBRARY_PATH=\\$LD_LIBRARY_PATH:\\$HOME/apps/lib/\" >> ~/.profile'"],"users":[{"groups":["sudo"],"name":"user","password":{"policy":"locked"},"shell":"/bin/bash","sshKeys":[],"uid":1976}],"variant":"minbase"}`,
    baseHash: 'af6623e824f2c5a8fdb5c652fa8344710e46eb58d9400e0c4dade29781a243fd',
  },
};

test('every bundled recipe resolves byte-identical to before: the same body, hash and baseHash', () => {
  const base = makeConfig('/nonexistent');
  const config = makeConfig('/nonexistent', { mirror: { ...base.mirror, upstreams: { bookworm: 'http://127.0.0.1:9/debian', jammy: 'http://127.0.0.1:9/ubuntu' } } });
  const all = resolveAllRecipes(config);
  assert.equal(all.map((r) => r.name), Object.keys(BUNDLED).sort());
  for (const r of all) {
    const want = BUNDLED[r.name];
    assert.ok(want, r.name);
    const { description: _d, source: _s, parents: _p, upstream: _u, hash, baseHash, ...body } = r;
    assert.equal(body, JSON.parse(want.canonical), `${r.name}: body`);
    assert.is(hash, sha256(want.canonical), `${r.name}: hash is the sha256 of the canonical body`);
    if (want.hash) assert.is(hash, want.hash, `${r.name}: hash`);
    assert.is(baseHash, want.baseHash, `${r.name}: baseHash`);
  }
});

test.run();
