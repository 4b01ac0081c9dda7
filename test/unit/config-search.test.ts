/**
 * Where the configuration comes from, through the real `nspawn-kit config`:
 * the system directory (NSPAWN_KIT_CONFIG_DIR standing in for /etc/nspawn-kit)
 * or --config FILE, never the working directory; recipes.d replaces a shipped
 * recipe by name. Every file is made at test time in a temporary directory.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, ROOT } from '../helpers/cli.js';
import { loadConfig } from '../../src/config/load.js';
import { resolveRecipe } from '../../src/config/recipes.js';
import type { HostFacts } from '../../src/config/types.js';

const host: HostFacts = { codename: 'bookworm', architecture: 'amd64', systemdPid1: false, aptSources: { bookworm: 'http://127.0.0.1:9/debian' } };

function withDir(fn: (dir: string) => void | Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'nk-search-'));
  return Promise.resolve(fn(dir)).finally(() => rmSync(dir, { recursive: true, force: true }));
}

interface Shown {
  file?: string;
  stateDir: string;
  recipeDirs: string[];
  recipes: Record<string, string>;
}

/** `nspawn-kit config` from `cwd` with `sys` as the system configuration directory. */
function shown(cwd: string, sys: string, args: string[] = []): Shown {
  const r = cli([...args, 'config'], { cwd, env: { NSPAWN_KIT_CONFIG_DIR: sys } });
  assert.is(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Shown;
}

function problems(stderr: string): string[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('  - '))
    .map((l) => l.slice(4));
}

test('the working directory is never searched: .nspawnrc.json, package.json and a meta .config/config.mjs there are neither read nor run', () =>
  withDir((dir) => {
    const work = join(dir, 'work', 'below');
    mkdirSync(join(dir, 'work', '.config'), { recursive: true });
    mkdirSync(work);
    const marker = join(dir, 'ran');
    const cfg = JSON.stringify({ stateDir: join(dir, 'state-from-cwd'), mirror: { root: join(dir, 'm') } });
    for (const d of [work, join(dir, 'work')]) {
      writeFileSync(join(d, '.nspawnrc.json'), cfg);
      writeFileSync(join(d, 'nspawn.config.json'), cfg);
      writeFileSync(join(d, '.nspawnrc.mjs'), `import { writeFileSync } from 'node:fs'; writeFileSync(${JSON.stringify(marker)}, 'rc'); export default {};`);
      writeFileSync(join(d, 'package.json'), JSON.stringify({ name: 'x', nspawn: { stateDir: join(dir, 'state-from-package') } }));
    }
    // cosmiconfig's explorer would import this "meta" configuration from the working directory.
    writeFileSync(join(dir, 'work', '.config', 'config.mjs'), `import { writeFileSync } from 'node:fs'; writeFileSync(${JSON.stringify(marker)}, 'meta'); export default {};`);
    const none = join(dir, 'no-such-dir');
    for (const cwd of [work, join(dir, 'work')]) {
      const out = shown(cwd, none);
      assert.is(out.file, undefined);
      assert.is(out.stateDir, '/var/lib/nspawn-kit');
      assert.equal(out.recipeDirs, []);
    }
    const given = join(dir, 'given.json');
    writeFileSync(given, JSON.stringify({ stateDir: join(dir, 'state-given'), mirror: { root: join(dir, 'm') } }));
    assert.is(shown(join(dir, 'work'), none, ['--config', given]).stateDir, join(dir, 'state-given'));
    assert.not.ok(existsSync(marker), 'no module of the working directory ran');
  }));

test('the system directory\'s config.json is loaded; --config FILE wins over it; recipes.d is read either way', () =>
  withDir((dir) => {
    const sys = join(dir, 'etc-nspawn-kit');
    mkdirSync(join(sys, 'recipes.d'), { recursive: true });
    writeFileSync(join(sys, 'config.json'), JSON.stringify({ stateDir: join(dir, 'state-sys'), mirror: { root: join(dir, 'm') } }));
    const out = shown(dir, sys);
    assert.is(out.file, join(sys, 'config.json'));
    assert.is(out.stateDir, join(dir, 'state-sys'));
    assert.equal(out.recipeDirs, [join(sys, 'recipes.d')]);
    const other = join(dir, 'other.json');
    writeFileSync(other, JSON.stringify({ stateDir: join(dir, 'state-other'), mirror: { root: join(dir, 'm') }, recipeDirs: ['mine'] }));
    mkdirSync(join(dir, 'mine'));
    const given = shown(ROOT, sys, ['--config', other]);
    assert.is(given.file, other);
    assert.is(given.stateDir, join(dir, 'state-other'));
    assert.equal(given.recipeDirs, [join(sys, 'recipes.d'), join(dir, 'mine')]);
  }));

test('config.yaml is loaded too (comments allowed); two configuration files in the directory are refused, exit 2', () =>
  withDir((dir) => {
    writeFileSync(join(dir, 'config.yaml'), `# the admin's notes\nstateDir: ${join(dir, 'state-yaml')}\nmirror:\n  root: ${join(dir, 'm')}\n`);
    const out = shown(ROOT, dir);
    assert.is(out.file, join(dir, 'config.yaml'));
    assert.is(out.stateDir, join(dir, 'state-yaml'));
    writeFileSync(join(dir, 'config.json'), '{}');
    const r = cli(['config'], { env: { NSPAWN_KIT_CONFIG_DIR: dir } });
    assert.is(r.code, 2, r.stderr);
    assert.equal(problems(r.stderr), [`${dir}: holds config.json and config.yaml: only one configuration file is read`]);
    assert.match(r.stderr, `Merge them into ${join(dir, 'config.json')} and remove the other.`);
  }));

test('NSPAWN_KIT_CONFIG_DIR must be absolute; an empty config.json is the embedded defaults', () =>
  withDir((dir) => {
    const r = cli(['config'], { cwd: dir, env: { NSPAWN_KIT_CONFIG_DIR: 'etc' } });
    assert.is(r.code, 2, r.stderr);
    assert.equal(problems(r.stderr), ['NSPAWN_KIT_CONFIG_DIR=etc: expected an absolute path']);
    writeFileSync(join(dir, 'config.json'), '\n');
    const out = shown(ROOT, dir);
    assert.is(out.file, join(dir, 'config.json'));
    assert.is(out.stateDir, '/var/lib/nspawn-kit');
  }));

test('recipes.d replaces a shipped recipe by name, and `config --recipe` says which file it replaces', () =>
  withDir((dir) => {
    mkdirSync(join(dir, 'recipes.d'));
    writeFileSync(join(dir, 'recipes.d', 'qgis.json'), JSON.stringify({ extends: 'bookworm-minimal', packages: ['qgis', 'local-tool'], hostname: 'local-qgis' }));
    const r = cli(['config', '--recipe', 'qgis'], { env: { NSPAWN_KIT_CONFIG_DIR: dir } });
    assert.is(r.code, 0, r.stderr);
    const recipe = JSON.parse(r.stdout) as { source: string; replaces?: string; packages: string[]; hostname: string; parents: string[] };
    assert.is(recipe.source, join(dir, 'recipes.d', 'qgis.json'));
    assert.is(recipe.replaces, join(ROOT, 'recipes', 'qgis.json'));
    assert.equal(recipe.packages, ['qgis', 'local-tool']);
    assert.is(recipe.hostname, 'local-qgis');
    assert.equal(recipe.parents, ['bookworm-minimal']);
    // The shipped recipe it extends is still the shipped one, and says it replaces nothing.
    const base = JSON.parse(cli(['config', '--recipe', 'bookworm-minimal'], { env: { NSPAWN_KIT_CONFIG_DIR: dir } }).stdout) as { source: string; replaces?: string };
    assert.is(base.source, join(ROOT, 'recipes', 'bookworm-minimal.json'));
    assert.is(base.replaces, undefined);
    assert.is(shown(ROOT, dir).recipes.qgis, join(dir, 'recipes.d', 'qgis.json'));
    // A configuration naming recipes.d again in recipeDirs reads it once: the recipe does not replace itself.
    writeFileSync(join(dir, 'again.json'), JSON.stringify({ recipeDirs: ['recipes.d'] }));
    const again = cli(['--config', join(dir, 'again.json'), 'config', '--recipe', 'qgis'], { env: { NSPAWN_KIT_CONFIG_DIR: dir } });
    assert.is(again.code, 0, again.stderr);
    assert.is((JSON.parse(again.stdout) as { replaces?: string }).replaces, join(ROOT, 'recipes', 'qgis.json'));
  }));

test('two recipes of one name in one directory are ambiguous: exit 2 naming both files', () =>
  withDir(async (dir) => {
    mkdirSync(join(dir, 'recipes.d'));
    writeFileSync(join(dir, 'recipes.d', 'a.json'), JSON.stringify({ name: 'twin', codename: 'bookworm' }));
    writeFileSync(join(dir, 'recipes.d', 'b.json'), JSON.stringify({ name: 'twin', codename: 'bookworm' }));
    const c = await loadConfig({ cwd: dir, configDir: dir, host });
    assert.throws(
      () => resolveRecipe(c, 'twin'),
      (err: Error & { problems?: string[] }) =>
        JSON.stringify(err.problems) === JSON.stringify([`${join(dir, 'recipes.d', 'b.json')}: name: recipe "twin" is also defined by ${join(dir, 'recipes.d', 'a.json')}; rename one`]),
    );
  }));

test('a development checkout: the example configuration loads with --config ./nspawnrc.example.json from the checkout', () => {
  const st = statSync(join(ROOT, 'nspawnrc.example.json'));
  if (process.geteuid?.() === 0 && (st.uid !== 0 || st.mode & 0o022)) {
    return console.log('  (skipped: this checkout is not root\'s, so root refuses its example: run the tests as its owner or from a checkout of root\'s)');
  }
  const r = cli(['--config', './nspawnrc.example.json', 'config', '--recipe', 'bookworm-dev'], { cwd: ROOT });
  assert.is(r.code, 0, r.stderr);
  const recipe = JSON.parse(r.stdout) as { source: string; parents: string[] };
  assert.is(recipe.source, `${join(ROOT, 'nspawnrc.example.json')}: recipes.bookworm-dev`);
  assert.equal(recipe.parents, ['bookworm-minimal']);
});

test.run();
