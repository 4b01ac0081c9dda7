import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import { resolveAllRecipes, resolveRecipe } from '../../src/config/recipes.js';
import { ConfigError } from '../../src/errors.js';
import type { HostFacts } from '../../src/config/types.js';

const host: HostFacts = { codename: 'bookworm', architecture: 'amd64', systemdPid1: false, aptSources: { bookworm: 'http://host-mirror.example/debian' } };

function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'nk-config-'));
  return fn(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

async function problemsOf(config: unknown, file = '.nspawnrc.json'): Promise<string[]> {
  return withDir(async (dir) => {
    writeFileSync(join(dir, file), typeof config === 'string' ? config : JSON.stringify(config));
    try {
      const c = await loadConfig({ cwd: dir, configFile: file, host });
      resolveAllRecipes(c);
    } catch (err) {
      assert.instance(err, ConfigError);
      assert.is((err as ConfigError).exitCode, 2);
      return (err as ConfigError).problems;
    }
    assert.unreachable('expected a ConfigError');
    return [];
  });
}

test('no configuration file: embedded defaults with host facts', async () => {
  await withDir(async (dir) => {
    const c = await loadConfig({ cwd: dir, configDir: dir, host });
    assert.is(c.file, undefined);
    assert.is(c.stateDir, '/var/lib/nspawn-kit');
    assert.is(c.mirror.root, '/var/local/mirrors');
    assert.equal(c.mirror.archives, [{ path: '/var/cache/apt/archives', codename: 'bookworm' }]);
    assert.equal(c.mirror.architectures, ['amd64']);
    assert.is(c.machines.dir, '/var/lib/machines');
    assert.is(c.schedule.refresh, '17 3 * * *');
  });
});

test('bad 1: wrong type reports file, key path and expectation', async () => {
  const p = await problemsOf({ recipes: { qgis: { extends: 'bookworm-minimal', packages: ['qgis', 'xx', 3] } } });
  assert.equal(p, ['.nspawnrc.json: recipes.qgis.packages[2]: expected a string, got 3']);
});

test('bad 2: unknown key with did-you-mean', async () => {
  const p = await problemsOf({ mirorr: {}, mirror: { rot: '/x' } });
  assert.ok(p.includes('.nspawnrc.json: mirorr: unknown key (did you mean "mirror"?)'), p.join('\n'));
  assert.ok(p.includes('.nspawnrc.json: mirror.rot: unknown key (did you mean "root"?)'), p.join('\n'));
});

test('bad 3: every problem at once', async () => {
  const p = await problemsOf({ stateDir: 'relative', machines: { dir: 5 }, watch: { settleMs: -1 } });
  assert.is(p.length, 3, p.join('\n'));
  assert.match(p.join('\n'), 'stateDir: expected an absolute path');
  assert.match(p.join('\n'), 'machines.dir: expected a string, got 5');
  assert.match(p.join('\n'), 'watch.settleMs');
});

test('bad 4: unsafe recipe names (slash, dot-dot, leading dash)', async () => {
  for (const name of ['a/b', '..', '-rf', '.hidden']) {
    const p = await problemsOf({ recipes: { [name]: { codename: 'bookworm' } } });
    assert.is(p.length, 1, `${name}: ${p.join('\n')}`);
    assert.match(p[0] ?? '', 'invalid name');
  }
});

test('bad 5: enum values listed', async () => {
  const p = await problemsOf({ recipes: { x: { bootstrap: 'docker', firstboot: 'cron' } } });
  assert.match(p.join('\n'), 'recipes.x.bootstrap: expected one of "debootstrap", "mmdebstrap", got "docker"');
  assert.match(p.join('\n'), 'recipes.x.firstboot: expected one of "systemd", "rc.local", got "cron"');
});

test('bad 6: a plain-text password is rejected; only a crypt hash or locked', async () => {
  const p = await problemsOf({ recipes: { x: { users: [{ name: 'user', password: { policy: 'hash', hash: 'user' } }] } } });
  assert.match(p.join('\n'), 'recipes.x.users[0].password.hash: expected a crypt(3) hash');
  const q = await problemsOf({ recipes: { x: { users: [{ name: 'user', password: 'user' }] } } });
  assert.match(q.join('\n'), 'recipes.x.users[0].password');
});

test('bad 6b: a hash with ":" (would shift /etc/shadow fields) and an SSH key with an embedded newline', async () => {
  const p = await problemsOf({
    recipes: {
      x: {
        users: [
          { name: 'user', password: { policy: 'hash', hash: '$6$salt$abc:0:99999' } },
          { name: 'other', sshKeys: ['ssh-ed25519 AAAAC3Nz user@host\nssh-rsa AAAAB3 evil@host'] },
        ],
      },
    },
  });
  assert.match(p.join('\n'), 'recipes.x.users[0].password.hash: expected a crypt(3) hash');
  assert.match(p.join('\n'), 'recipes.x.users[1].sshKeys[0]: expected one OpenSSH public key line');
});

test('bad 7: syntax error names the file', async () => {
  const p = await problemsOf('{ "mirror": ', '.nspawnrc.json');
  assert.is(p.length, 1);
  assert.match(p[0] ?? '', /^\.nspawnrc\.json: cannot be parsed/);
});

test('bad 8: extends an unknown recipe, and extends cycles', async () => {
  const p = await problemsOf({ recipes: { x: { extends: 'bookworm-minimall' } } });
  assert.match(p.join('\n'), '.nspawnrc.json: recipes.x: extends: unknown recipe "bookworm-minimall"');
  assert.match(p.join('\n'), 'did you mean "bookworm-minimal"');
  const q = await problemsOf({ recipes: { a: { extends: 'b' }, b: { extends: 'a' } } });
  assert.match(q.join('\n'), 'cycle');
});

test('bad 9: top level not an object; bad URL; bad cron-less types', async () => {
  assert.match((await problemsOf('[1,2]')).join('\n'), 'expected an object at the top level');
  const p = await problemsOf({ mirror: { upstreams: { bookworm: 'ftp:/nope' } } });
  assert.match(p.join('\n'), 'mirror.upstreams.bookworm: expected a URL');
});

test('bad 10: --config naming a missing file', async () => {
  try {
    await loadConfig({ configFile: '/nonexistent/nspawnrc.json', host });
    assert.unreachable();
  } catch (err) {
    assert.instance(err, ConfigError);
    assert.match((err as ConfigError).problems[0] ?? '', 'no such configuration file');
  }
});

test('unknown recipe is listed against the known ones', async () => {
  await withDir(async (dir) => {
    const c = await loadConfig({ cwd: dir, configDir: dir, host });
    try {
      resolveRecipe(c, 'qgs');
      assert.unreachable();
    } catch (err) {
      const msg = (err as ConfigError).problems[0] ?? '';
      assert.match(msg, 'unknown recipe "qgs" (did you mean "qgis"?)');
      assert.match(msg, 'known recipes: bookworm-minimal, qgis, qgis-nightly-ubuntu');
    }
    assert.throws(() => resolveRecipe(c, '../etc'), (e: Error) => e instanceof ConfigError);
  });
});

test('bundled recipes resolve; upstream from host apt sources; extends merges; hashes stable', async () => {
  await withDir(async (dir) => {
    const c = await loadConfig({ cwd: dir, configDir: dir, host });
    const qgis = resolveRecipe(c, 'qgis');
    assert.is(qgis.codename, 'bookworm');
    assert.is(qgis.upstream, 'http://host-mirror.example/debian');
    assert.equal(qgis.parents, ['bookworm-minimal']);
    assert.ok(qgis.packages.includes('python3-qgis') && qgis.packages.includes('qgis-providers'));
    assert.is(qgis.users[0]?.uid, 1976);
    assert.equal(qgis.users[0]?.password, { policy: 'locked' });
    assert.is(resolveRecipe(c, 'qgis').hash, qgis.hash);
    const ubuntu = resolveRecipe(c, 'qgis-nightly-ubuntu');
    assert.is(ubuntu.hostname, 'qgisbuilds');
    assert.is(ubuntu.firstboot, 'rc.local');
    assert.ok(ubuntu.repositories.every((r) => r.key?.startsWith('/')));
    assert.ok(ubuntu.users.every((u) => u.password.policy === 'locked'), 'no plain-text default password');
  });
});

test('mirror.upstreams wins over host sources; upstream is not part of the base key', async () => {
  await withDir(async (dir) => {
    writeFileSync(join(dir, '.nspawnrc.json'), JSON.stringify({ mirror: { upstreams: { bookworm: 'http://127.0.0.1:9/debian' } } }));
    const c = await loadConfig({ cwd: dir, configFile: '.nspawnrc.json', host });
    const r = resolveRecipe(c, 'bookworm-minimal');
    assert.is(r.upstream, 'http://127.0.0.1:9/debian');
    const plain = resolveRecipe(await loadConfig({ cwd: dir, configDir: join(dir, 'none'), host }), 'bookworm-minimal');
    assert.is(r.baseHash, plain.baseHash);
    assert.is(r.hash, plain.hash);
  });
});

test('recipeDirs are relative to the config file; a recipe file with errors names its file', async () => {
  await withDir(async (dir) => {
    mkdirSync(join(dir, 'mine'));
    writeFileSync(join(dir, 'mine', 'tiny.json'), JSON.stringify({ extends: 'bookworm-minimal', packages: ['systemd'] }));
    writeFileSync(join(dir, 'mine', 'broken.json'), JSON.stringify({ codename: 'Bookworm!' }));
    writeFileSync(join(dir, 'nspawn.config.json'), JSON.stringify({ recipeDirs: ['mine'] }));
    const c = await loadConfig({ cwd: dir, configFile: 'nspawn.config.json', host });
    try {
      resolveRecipe(c, 'tiny');
      assert.unreachable();
    } catch (err) {
      assert.match((err as ConfigError).problems.join('\n'), `${join(dir, 'mine', 'broken.json')}: codename: expected a codename`);
    }
    rmSync(join(dir, 'mine', 'broken.json'));
    assert.equal(resolveRecipe(c, 'tiny').packages, ['systemd']);
    assert.equal(readdirSync(dir).sort(), ['mine', 'nspawn.config.json']);
  });
});

test.run();
