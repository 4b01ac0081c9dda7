/**
 * Records of the configuration indexed by a name the user writes (a codename,
 * a recipe name) are looked up as own properties only: "constructor",
 * "toString", "__proto__" are names like any other, never Object.prototype's.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CODENAME } from '../../src/config/formats.js';
import { parseAptSources } from '../../src/config/host.js';
import { loadConfig } from '../../src/config/load.js';
import { ownValue, protoKeyPaths } from '../../src/config/own-keys.js';
import { resolveRecipe } from '../../src/config/recipes.js';
import type { HostFacts } from '../../src/config/types.js';
import { ConfigError } from '../../src/errors.js';
import { makeConfig } from '../helpers/config.js';

const host: HostFacts = { codename: 'bookworm', architecture: 'amd64', systemdPid1: false, aptSources: {}, debootstrapMirrors: {} };

function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'nk-ownkeys-'));
  return fn(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.instance(err, ConfigError);
    return (err as ConfigError).problems;
  }
  assert.unreachable('expected a ConfigError');
  return [];
}

test('the codename rule admits "constructor" and refuses "__proto__" and "toString"', () => {
  assert.ok(CODENAME.test('constructor'));
  assert.not.ok(CODENAME.test('__proto__'));
  assert.not.ok(CODENAME.test('toString'));
});

test('codename "constructor" with no upstream configured anywhere: "no upstream", not Object.prototype.constructor', () => {
  const config = makeConfig('/nonexistent', { host, recipes: { x: { codename: 'constructor' } } });
  assert.equal(problems(() => resolveRecipe(config, 'x')), ['<embedded defaults>: recipes.x: no upstream mirror known for codename "constructor"']);
});

test('codename "constructor" configured in mirror.upstreams, the host apt sources or debootstrap: that URL', async () => {
  await withDir(async (dir) => {
    writeFileSync(join(dir, '.nspawnrc.json'), JSON.stringify({ mirror: { upstreams: { constructor: 'http://127.0.0.1:9/c' } }, recipes: { x: { codename: 'constructor' } } }));
    const c = await loadConfig({ cwd: dir, configFile: '.nspawnrc.json', host });
    assert.is(resolveRecipe(c, 'x').upstream, 'http://127.0.0.1:9/c');
  });
  const viaHost = makeConfig('/nonexistent', { host: { ...host, aptSources: { constructor: 'http://127.0.0.1:9/h' } }, recipes: { x: { codename: 'constructor' } } });
  assert.is(resolveRecipe(viaHost, 'x').upstream, 'http://127.0.0.1:9/h');
  const viaDebootstrap = makeConfig('/nonexistent', { host: { ...host, debootstrapMirrors: { constructor: 'http://127.0.0.1:9/d' } }, recipes: { x: { codename: 'constructor' } } });
  assert.is(resolveRecipe(viaDebootstrap, 'x').upstream, 'http://127.0.0.1:9/d');
});

test('the host apt sources: a suite named "constructor" or "toString" is read like any other', () => {
  const sources = parseAptSources([
    { name: 'sources.list', text: 'deb http://127.0.0.1:9/one constructor main\ndeb http://127.0.0.1:9/two toString main\ndeb http://127.0.0.1:9/three constructor main\n' },
  ]);
  assert.equal(sources, { constructor: 'http://127.0.0.1:9/one', toString: 'http://127.0.0.1:9/two' });
  assert.ok(Object.hasOwn(sources, 'constructor'));
});

test('mirror.upstreams keyed "__proto__" or "toString" is refused with its key path', async () => {
  await withDir(async (dir) => {
    // Written as text: JSON.parse makes "__proto__" an own key, as a config file would.
    writeFileSync(join(dir, '.nspawnrc.json'), '{"mirror":{"upstreams":{"__proto__":"http://127.0.0.1:9/p","toString":"http://127.0.0.1:9/t"}}}');
    try {
      await loadConfig({ cwd: dir, configFile: '.nspawnrc.json', host });
      assert.unreachable('expected a ConfigError');
    } catch (err) {
      assert.instance(err, ConfigError);
      assert.equal((err as ConfigError).problems, [
        '.nspawnrc.json: mirror.upstreams.__proto__: "__proto__" is not allowed as a key (no codename, recipe or field is named so)',
        '.nspawnrc.json: mirror.upstreams.toString: invalid name: expected a codename like "bookworm"',
      ]);
    }
  });
});

test('recipe names "constructor" and "toString" are unknown until defined; defined inline, they resolve; "__proto__" is refused', async () => {
  const none = makeConfig('/nonexistent', { host: { ...host, aptSources: { bookworm: 'http://127.0.0.1:9/debian' } } });
  for (const name of ['constructor', 'toString']) {
    assert.match(problems(() => resolveRecipe(none, name)).join('\n'), `unknown recipe "${name}"`);
  }
  assert.match(problems(() => resolveRecipe(none, '__proto__')).join('\n'), 'recipe name "__proto__": expected a safe name');
  await withDir(async (dir) => {
    writeFileSync(join(dir, '.nspawnrc.json'), '{"recipes":{"constructor":{"hostname":"c"},"toString":{"extends":"constructor","packages":["less"]}}}');
    const c = await loadConfig({ cwd: dir, configFile: '.nspawnrc.json', host: { ...host, aptSources: { bookworm: 'http://127.0.0.1:9/debian' } } });
    const r = resolveRecipe(c, 'toString');
    assert.equal([r.name, r.hostname, r.packages, r.parents], ['toString', 'c', ['less'], ['constructor']]);
    writeFileSync(join(dir, '.nspawnrc.json'), '{"recipes":{"__proto__":{"hostname":"p"}}}');
    try {
      await loadConfig({ cwd: dir, configFile: '.nspawnrc.json', host });
      assert.unreachable('expected a ConfigError');
    } catch (err) {
      assert.instance(err, ConfigError);
      // zod's record alone would drop the key silently and load the rest.
      assert.equal((err as ConfigError).problems, ['.nspawnrc.json: recipes.__proto__: "__proto__" is not allowed as a key (no codename, recipe or field is named so)']);
    }
  });
});

test('ownValue reads own keys only; protoKeyPaths finds every own "__proto__" with its path, in arrays too', () => {
  const record: Record<string, string> = { bookworm: 'http://127.0.0.1:9/debian' };
  assert.is(ownValue(record, 'bookworm'), 'http://127.0.0.1:9/debian');
  for (const key of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) assert.is(ownValue(record, key), undefined, key);
  assert.is(ownValue(undefined, 'bookworm'), undefined);
  const data = JSON.parse('{"a":{"__proto__":{"__proto__":1}},"b":[{"c":2},{"__proto__":3}],"constructor":4}');
  assert.equal(protoKeyPaths(data), ['a.__proto__', 'a.__proto__.__proto__', 'b[1].__proto__']);
  assert.equal(protoKeyPaths({ a: { b: [1, 'x'] }, toString: 'y' }), []);
});

test.run();
