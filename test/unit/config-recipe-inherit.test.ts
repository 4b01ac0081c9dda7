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
    const c = await loadConfig({ cwd: dir, configFile: '.nspawnrc.json', host });
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
    const c = await loadConfig({ cwd: dir, configFile: '.nspawnrc.json', host });
    assert.equal(resolveRecipe(c, 'mid').nspawn, { network: 'veth', binds: [], bindsReadOnly: ['/srv/data:/data'], privateUsers: 'pick' });
    // false and [] set by the child win over the parent's values (set, not unset).
    assert.equal(resolveRecipe(c, 'leaf').nspawn, { network: 'veth', binds: [], bindsReadOnly: [], privateUsers: false });
    // A partial block parses and resolves with defaults when there is no parent.
    writeFileSync(join(dir, 'r', 'alone.json'), JSON.stringify({ codename: 'bookworm', nspawn: { binds: ['/srv/x'] } }));
    const alone = resolveRecipe(await loadConfig({ cwd: dir, configFile: '.nspawnrc.json', host }), 'alone');
    assert.equal(alone.nspawn, { network: 'host', binds: ['/srv/x'], bindsReadOnly: [], privateUsers: false });
  });
});

test('an nspawn block with a wrong value is still refused with its key path', async () => {
  await withDir(async (dir) => {
    writeFileSync(join(dir, '.nspawnrc.json'), JSON.stringify({ recipes: { x: { nspawn: { network: 'bridge' } } } }));
    try {
      await loadConfig({ cwd: dir, configFile: '.nspawnrc.json', host });
      assert.unreachable('expected a ConfigError');
    } catch (err) {
      assert.match((err as { problems: string[] }).problems.join('\n'), 'recipes.x.nspawn.network');
    }
  });
});

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');
const B = BUNDLED_RECIPES;
// The canonical JSON of each bundled recipe's body and its hashes, as main
// computed them before inheritance became field by field, plus the update
// suites of issue 13 ("updates":true in the body; "suites" in the base hash,
// computed by hand with python3 json.dumps(sort_keys) | sha256) (the keys of
// qgis-nightly-ubuntu are absolute paths under the checkout, ${B}).
const BUNDLED: Record<string, { canonical: string; hash?: string; baseHash: string }> = {
  'bookworm-minimal': {
    canonical: String.raw`{"bootstrap":"debootstrap","codename":"bookworm","components":["main"],"firstboot":"systemd","hostname":"bookworm-minimal","name":"bookworm-minimal","nspawn":{"binds":[],"bindsReadOnly":[],"network":"host","privateUsers":false},"packages":["systemd","systemd-sysv","dbus","systemd-resolved"],"refresh":true,"repositories":[],"steps":[],"updates":true,"users":[],"variant":"minbase"}`,
    hash: 'b84d1fd676ac2f7b16d6aad40a41bf75ecb859a59c57fe0eea03f7f579a533c8',
    baseHash: 'd6376a7076bc6082bf2538f93833a08cef86ad109929deddabb3c2fad6a0e4d3',
  },
  qgis: {
    canonical: String.raw`{"bootstrap":"debootstrap","codename":"bookworm","components":["main"],"firstboot":"systemd","hostname":"qgis","name":"qgis","nspawn":{"binds":[],"bindsReadOnly":[],"network":"host","privateUsers":false},"packages":["systemd","systemd-sysv","dbus","systemd-resolved","sudo","qgis","python3-qgis","qgis-providers"],"refresh":true,"repositories":[],"steps":["su - user -c 'mkdir -p ~/apps/lib && echo \"export LD_LIBRARY_PATH=\\$LD_LIBRARY_PATH:\\$HOME/apps/lib/\" >> ~/.profile'"],"updates":true,"users":[{"groups":["sudo"],"name":"user","password":{"policy":"locked"},"shell":"/bin/bash","sshKeys":[],"uid":1976}],"variant":"minbase"}`,
    hash: '59cf7bc1833dbe132c8eb29d415c065d747a09b5beb83f8c59487d722b7177cb',
    baseHash: '21b993aaeb779ae73c3eeaae5d96b1e355a70b3aba5b92306c262290e6434c02',
  },
  'qgis-nightly-ubuntu': {
    canonical: String.raw`{"bootstrap":"debootstrap","codename":"jammy","components":["main","universe"],"firstboot":"rc.local","hostname":"qgisbuilds","name":"qgis-nightly-ubuntu","nspawn":{"binds":[],"bindsReadOnly":[],"network":"host","privateUsers":false},"packages":["systemd","systemd-sysv","dbus","sudo","qgis","python3-qgis"],"refresh":false,"repositories":[{"components":["main"],"enabled":true,"key":"${B}/keys/qgis-archive.asc","name":"qgis-nightly","suite":"jammy","uri":"https://qgis.org/ubuntugis-nightly"},{"components":["main"],"enabled":true,"key":"${B}/keys/ubuntugis-unstable.asc","name":"ubuntugis-unstable","suite":"jammy","uri":"http://ppa.launchpad.net/ubuntugis/ubuntugis-unstable/ubuntu"}],"steps":["su - user -c 'echo \"export LD_LIBRARY_PATH=\\$LD_LIBRARY_PATH:\\$HOME/apps/lib/\" >> ~/.profile'"],"updates":true,"users":[{"groups":["sudo"],"name":"user","password":{"policy":"locked"},"shell":"/bin/bash","sshKeys":[],"uid":1976}],"variant":"minbase"}`,
    baseHash: '1eda0044b42a703c6982dfe5d5410e4deaae56ae6c3c21c1192adcc22f53496b',
  },
  // Issue 14: Debian 13, the same shape as bookworm-minimal (not in the nightly refresh).
  'trixie-minimal': {
    canonical: String.raw`{"bootstrap":"debootstrap","codename":"trixie","components":["main"],"firstboot":"systemd","hostname":"trixie-minimal","name":"trixie-minimal","nspawn":{"binds":[],"bindsReadOnly":[],"network":"host","privateUsers":false},"packages":["systemd","systemd-sysv","dbus","systemd-resolved"],"refresh":false,"repositories":[],"steps":[],"updates":true,"users":[],"variant":"minbase"}`,
    hash: 'c2b640fbcf3d76fa6888c923740f9c5728558e1435674d0a9498748af1fb05fc',
    baseHash: '7856cbb6e2a3b067caf21451c35aa3957dc1f59e062c2a89f92faa1e293512c0',
  },
};

test('every bundled recipe resolves to the body, hash and baseHash written down, its suites with their upstreams', () => {
  const base = makeConfig('/nonexistent');
  const config = makeConfig('/nonexistent', { mirror: { ...base.mirror, upstreams: { bookworm: 'http://127.0.0.1:9/debian', trixie: 'http://127.0.0.1:9/debian', jammy: 'http://127.0.0.1:9/ubuntu' } } });
  const all = resolveAllRecipes(config);
  assert.equal(all.map((r) => r.name), Object.keys(BUNDLED).sort());
  for (const r of all) {
    const want = BUNDLED[r.name];
    assert.ok(want, r.name);
    const { description: _d, source: _s, parents: _p, upstream: _u, suites: _su, upstreams: _us, hash, baseHash, ...body } = r;
    assert.equal(body, JSON.parse(want.canonical), `${r.name}: body`);
    assert.is(hash, sha256(want.canonical), `${r.name}: hash is the sha256 of the canonical body`);
    if (want.hash) assert.is(hash, want.hash, `${r.name}: hash`);
    assert.is(baseHash, want.baseHash, `${r.name}: baseHash`);
    assert.equal(r.suites, [r.codename, `${r.codename}-updates`, `${r.codename}-security`], `${r.name}: suites`);
  }
  const byName = new Map(all.map((r) => [r.name, r]));
  // Debian: -updates from the release's archive, -security from Debian's security archive on the same host.
  assert.equal(byName.get('qgis')?.upstreams, {
    bookworm: 'http://127.0.0.1:9/debian',
    'bookworm-updates': 'http://127.0.0.1:9/debian',
    'bookworm-security': 'http://127.0.0.1:9/debian-security',
  });
  assert.equal(byName.get('trixie-minimal')?.upstreams, {
    trixie: 'http://127.0.0.1:9/debian',
    'trixie-updates': 'http://127.0.0.1:9/debian',
    'trixie-security': 'http://127.0.0.1:9/debian-security',
  });
  // Ubuntu's archive carries its own -security suite.
  assert.equal(byName.get('qgis-nightly-ubuntu')?.upstreams, {
    jammy: 'http://127.0.0.1:9/ubuntu',
    'jammy-updates': 'http://127.0.0.1:9/ubuntu',
    'jammy-security': 'http://127.0.0.1:9/ubuntu',
  });
});

test.run();
