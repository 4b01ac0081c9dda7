import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { detectHost } from '../../src/config/host.js';
import { loadConfig } from '../../src/config/load.js';
import { resolveRecipe } from '../../src/config/recipes.js';
import type { HostFacts } from '../../src/config/types.js';
import { ConfigError } from '../../src/errors.js';
import { makeConfig } from '../helpers/config.js';

const host: HostFacts = { codename: 'bookworm', architecture: 'amd64', systemdPid1: false, aptSources: { bookworm: 'http://host-mirror.example/debian' } };

function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'nk-config-host-'));
  return fn(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

test('detectHost reads the host: os-release codename, dpkg architecture, systemd as PID 1; a fresh object each call', async () => {
  const facts = await detectHost();
  const codename = /^VERSION_CODENAME=(.*)$/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1]?.replace(/^"|"$/g, '') || 'bookworm';
  assert.is(facts.codename, codename);
  assert.is(facts.architecture, execFileSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).trim());
  assert.is(facts.systemdPid1, existsSync('/run/systemd/system'));
  assert.is(facts.debootstrapMirrors, undefined, 'left to loadConfig');
  assert.is.not(await detectHost(), facts, 'no module-level cache');
});

test('resolving a recipe runs nothing: with no upstream among the facts it is a ConfigError, even where debootstrap knows the suite', () => {
  const config = makeConfig('/nonexistent', { recipes: { u: { codename: 'jammy' } } });
  assert.throws(
    () => resolveRecipe(config, 'u'),
    (e: unknown) => e instanceof ConfigError && e.problems.join() === '<embedded defaults>: recipes.u: no upstream mirror known for codename "jammy"',
  );
  const given = makeConfig('/nonexistent', { recipes: { u: { codename: 'jammy' } } });
  given.host = { ...given.host, debootstrapMirrors: { jammy: 'http://given.example/ubuntu' } };
  assert.is(resolveRecipe(given, 'u').upstream, 'http://given.example/ubuntu');
});

test('loadConfig looks up debootstrap\'s default mirror once, for the suites the recipes name that have no other upstream', async () => {
  if (!existsSync('/usr/share/debootstrap/scripts/jammy')) return console.log('  (skipped: debootstrap is not installed)');
  await withDir(async (dir) => {
    writeFileSync(
      join(dir, '.nspawnrc.json'),
      JSON.stringify({ mirror: { upstreams: { trixie: 'http://127.0.0.1:9/debian' } }, recipes: { t: { codename: 'trixie' }, n: { codename: 'nosuchsuite' } } }),
    );
    const c = await loadConfig({ cwd: dir, configFile: '.nspawnrc.json', host });
    // jammy (the bundled qgis-nightly-ubuntu): debootstrap's gutsy script, amd64 -> archive.ubuntu.com.
    // bookworm (host apt sources) and trixie (mirror.upstreams) are not looked up; nosuchsuite has no script.
    assert.equal(c.host.debootstrapMirrors, { jammy: 'http://archive.ubuntu.com/ubuntu' });
    assert.is(resolveRecipe(c, 'qgis-nightly-ubuntu').upstream, 'http://archive.ubuntu.com/ubuntu');
    assert.is(resolveRecipe(c, 't').upstream, 'http://127.0.0.1:9/debian');
    assert.throws(() => resolveRecipe(c, 'n'), /no upstream mirror known for codename "nosuchsuite"/);
    // Facts given by the caller win over a lookup.
    const given = await loadConfig({ cwd: dir, configFile: '.nspawnrc.json', host: { ...host, debootstrapMirrors: { jammy: 'http://given.example/ubuntu' } } });
    assert.is(resolveRecipe(given, 'qgis-nightly-ubuntu').upstream, 'http://given.example/ubuntu');
  });
});

test.run();
