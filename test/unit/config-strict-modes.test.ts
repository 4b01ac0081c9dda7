/**
 * StrictModes as root: configuration files, recipe directories and recipe
 * files that a non-root user can write, or that sit in a directory one can
 * write, are refused with exit 2, the file, the reason and the fix; a
 * JavaScript configuration not owned by root never runs. The fine cases load.
 * Files are made at test time in temporary directories (mode and owner set
 * with chmod/chown there); the refusals need root, so they skip visibly
 * without it.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from '../helpers/cli.js';
import { loadConfig } from '../../src/config/load.js';
import { loadRecipeDefs } from '../../src/config/recipes.js';
import { ConfigError } from '../../src/errors.js';
import type { HostFacts } from '../../src/config/types.js';

const host: HostFacts = { codename: 'bookworm', architecture: 'amd64', systemdPid1: false, aptSources: { bookworm: 'http://127.0.0.1:9/debian' } };
const NOBODY = 65534;
const isRoot = process.geteuid?.() === 0;

function withDir(fn: (dir: string) => void | Promise<void>): Promise<void> {
  if (!isRoot) {
    console.log('  (skipped: the ownership checks apply to root only; run the tests as root)');
    return Promise.resolve();
  }
  const dir = mkdtempSync(join(tmpdir(), 'nk-strict-'));
  return Promise.resolve(fn(dir)).finally(() => rmSync(dir, { recursive: true, force: true }));
}

/** A valid configuration whose paths lie in `dir`. */
function configText(dir: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ stateDir: join(dir, 'state'), mirror: { root: join(dir, 'mirror') }, ...extra });
}

function problems(stderr: string): string[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('  - '))
    .map((l) => l.slice(4));
}

/** `nspawn-kit --config FILE config` (the system directory: an empty one). */
function run(file: string, env: Record<string, string> = {}) {
  return cli(['--config', file, 'config'], { env });
}

async function refusedBy(opts: Parameters<typeof loadConfig>[0]): Promise<string[]> {
  try {
    loadRecipeDefs(await loadConfig({ host, ...opts }));
  } catch (err) {
    assert.instance(err, ConfigError);
    assert.is((err as ConfigError).exitCode, 2);
    return (err as ConfigError).problems;
  }
  assert.unreachable('expected a ConfigError');
  return [];
}

test('a config file writable by group or others, or owned by another user: exit 2 naming file, reason and fix; fixed, it loads', () =>
  withDir((dir) => {
    const file = join(dir, 'config.json');
    writeFileSync(file, configText(dir));
    chmodSync(file, 0o664);
    const group = run(file);
    assert.is(group.code, 2, group.stderr);
    assert.equal(problems(group.stderr), [`${file}: writable by group or others (mode 0664): refusing to load it as root; chmod go-w ${file}`]);
    assert.match(group.stderr, 'Fix the ownership or mode of the file or directory named above, then run again.');
    assert.not.ok(existsSync(join(dir, 'state')));
    chmodSync(file, 0o646);
    assert.equal(problems(run(file).stderr), [`${file}: writable by group or others (mode 0646): refusing to load it as root; chmod go-w ${file}`]);
    chmodSync(file, 0o644);
    chownSync(file, NOBODY, NOBODY);
    const owned = run(file);
    assert.is(owned.code, 2, owned.stderr);
    assert.equal(problems(owned.stderr), [`${file}: owned by uid ${NOBODY}, not root: refusing to load it as root; chown root ${file}`]);
    chmodSync(file, 0o666);
    assert.equal(problems(run(file).stderr), [
      `${file}: owned by uid ${NOBODY}, not root, and writable by group or others (mode 0666): refusing to load it as root; chown root ${file} && chmod go-w ${file}`,
    ]);
    chownSync(file, 0, 0);
    chmodSync(file, 0o644);
    const fine = run(file);
    assert.is(fine.code, 0, fine.stderr);
    assert.is((JSON.parse(fine.stdout) as { stateDir: string }).stateDir, join(dir, 'state'));
  }));

test('the configuration directory: other-writable or another user\'s is refused (searched or --config); a sticky one of root\'s may hold a config', () =>
  withDir(async (dir) => {
    const sys = join(dir, 'sys');
    mkdirSync(sys);
    writeFileSync(join(sys, 'config.json'), configText(dir));
    chmodSync(sys, 0o777);
    const searched = cli(['config'], { env: { NSPAWN_KIT_CONFIG_DIR: sys } });
    assert.is(searched.code, 2, searched.stderr);
    assert.equal(problems(searched.stderr), [`${sys}: writable by group or others (mode 0777): refusing to read the configuration from it as root; chmod go-w ${sys}`]);
    const file = join(sys, 'config.json');
    assert.equal(problems(run(file).stderr), [`${file}: its directory ${sys} is writable by group or others (mode 0777): refusing to load it as root; chmod go-w ${sys}`]);
    chmodSync(sys, 0o755);
    chownSync(sys, NOBODY, NOBODY);
    assert.equal(await refusedBy({ configDir: sys }), [`${sys}: owned by uid ${NOBODY}, not root: refusing to read the configuration from it as root; chown root ${sys}`]);
    assert.equal(await refusedBy({ configFile: file, configDir: join(dir, 'none') }), [
      `${file}: its directory ${sys} is owned by uid ${NOBODY}, not root: refusing to load it as root; chown root ${sys}`,
    ]);
    // Like /tmp: others may add entries to a sticky directory of root's, but not replace root's file.
    chownSync(sys, 0, 0);
    chmodSync(sys, 0o1777);
    assert.is(run(file).code, 0);
    chmodSync(sys, 0o755);
    assert.is((await loadConfig({ configDir: sys, host })).file, file);
  }));

test('a symbolic link is followed: the file it leads to and its directory are checked, and the directory holding the link', () =>
  withDir(async (dir) => {
    const real = join(dir, 'real');
    const open = join(dir, 'open');
    mkdirSync(real);
    mkdirSync(open);
    writeFileSync(join(real, 'target.json'), configText(dir));
    const sys = join(dir, 'sys');
    mkdirSync(sys);
    symlinkSync(join(real, 'target.json'), join(sys, 'config.json'));
    assert.is((await loadConfig({ configDir: sys, host })).stateDir, join(dir, 'state'), 'a link to a root-owned file in a root-owned directory loads');
    // The link lives in a directory anyone can write: anyone could point it elsewhere.
    chmodSync(open, 0o777);
    symlinkSync(join(real, 'target.json'), join(open, 'link.json'));
    const link = join(open, 'link.json');
    const shown = `${link} (-> ${join(real, 'target.json')})`;
    assert.equal(await refusedBy({ configFile: link, configDir: join(dir, 'none') }), [
      `${shown}: its directory ${open} is writable by group or others (mode 0777): refusing to load it as root; chmod go-w ${open}`,
    ]);
    // The file it leads to lies in such a directory.
    writeFileSync(join(open, 'target.json'), configText(dir));
    symlinkSync(join(open, 'target.json'), join(real, 'link.json'));
    assert.equal(await refusedBy({ configFile: join(real, 'link.json'), configDir: join(dir, 'none') }), [
      `${join(real, 'link.json')} (-> ${join(open, 'target.json')}): its directory ${open} is writable by group or others (mode 0777): refusing to load it as root; chmod go-w ${open}`,
    ]);
  }));

// A root-owned module under a root-only chain runs: config-module-trust.test.ts (a temporary directory here is under the sticky /tmp, refused for modules).
test('a JavaScript configuration not owned by root is refused and never runs', () =>
  withDir((dir) => {
    const marker = join(dir, 'ran');
    const file = join(dir, 'nspawn.config.mjs');
    writeFileSync(file, `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(marker)}, 'ran');\nexport default ${configText(dir)};\n`);
    chownSync(file, NOBODY, NOBODY);
    const r = run(file);
    assert.is(r.code, 2, r.stderr);
    assert.is(problems(r.stderr)[0], `${file}: owned by uid ${NOBODY}, not root: refusing to run this JavaScript configuration as root; chown root ${file}`);
    assert.not.ok(existsSync(marker), 'the module was not imported');
  }));

test('a symbolic link in the middle of the path: the directory holding it is checked too (a sticky one of root\'s may hold it)', () =>
  withDir(async (dir) => {
    const real = join(dir, 'real');
    const open = join(dir, 'open');
    mkdirSync(real);
    mkdirSync(open);
    writeFileSync(join(real, 'config.json'), configText(dir));
    // open/mid -> real: the file's own directory (real) and the name's (realpath: real) are root's, the link's is not.
    symlinkSync(real, join(open, 'mid'));
    const file = join(open, 'mid', 'config.json');
    assert.is((await loadConfig({ configFile: file, configDir: join(dir, 'none'), host })).stateDir, join(dir, 'state'), 'a root-only directory may hold the link');
    chmodSync(open, 0o777);
    assert.equal(await refusedBy({ configFile: file, configDir: join(dir, 'none') }), [
      `${file} (-> ${join(real, 'config.json')}): its directory ${open} is writable by group or others (mode 0777): refusing to load it as root; chmod go-w ${open}`,
    ]);
    chmodSync(open, 0o1777);
    assert.is((await loadConfig({ configFile: file, configDir: join(dir, 'none'), host })).stateDir, join(dir, 'state'));
  }));

test('recipe files and directories: writable by others (recipeDirs or recipes.d) is refused with the path; fixed, they load', () =>
  withDir(async (dir) => {
    const mine = join(dir, 'mine');
    mkdirSync(mine);
    const recipe = join(mine, 'tiny.json');
    writeFileSync(recipe, JSON.stringify({ extends: 'bookworm-minimal', packages: ['less'] }));
    const cfg = join(dir, 'cfg.json');
    writeFileSync(cfg, configText(dir, { recipeDirs: ['mine'] }));
    const none = join(dir, 'none');
    chmodSync(recipe, 0o666);
    const r = run(cfg);
    assert.is(r.code, 2, r.stderr);
    assert.equal(problems(r.stderr), [`${recipe}: writable by group or others (mode 0666): refusing to load this recipe as root; chmod go-w ${recipe}`]);
    chmodSync(recipe, 0o644);
    chmodSync(mine, 0o757);
    assert.equal(await refusedBy({ configFile: cfg, configDir: none }), [`${mine}: writable by group or others (mode 0757): refusing to read recipes from it as root; chmod go-w ${mine}`]);
    chmodSync(mine, 0o755);
    chownSync(recipe, NOBODY, NOBODY);
    assert.equal(await refusedBy({ configFile: cfg, configDir: none }), [`${recipe}: owned by uid ${NOBODY}, not root: refusing to load this recipe as root; chown root ${recipe}`]);
    chownSync(recipe, 0, 0);
    assert.ok(loadRecipeDefs(await loadConfig({ configFile: cfg, configDir: none, host })).has('tiny'));
    // The system directory's recipes.d, writable by its group.
    const sys = join(dir, 'sys');
    mkdirSync(join(sys, 'recipes.d'), { recursive: true });
    writeFileSync(join(sys, 'recipes.d', 'local.json'), JSON.stringify({ extends: 'bookworm-minimal' }));
    chmodSync(join(sys, 'recipes.d'), 0o775);
    const d = join(sys, 'recipes.d');
    const viaCli = cli(['config'], { env: { NSPAWN_KIT_CONFIG_DIR: sys } });
    assert.is(viaCli.code, 2, viaCli.stderr);
    assert.equal(problems(viaCli.stderr), [`${d}: writable by group or others (mode 0775): refusing to read recipes from it as root; chmod go-w ${d}`]);
    chmodSync(d, 0o755);
    assert.ok(loadRecipeDefs(await loadConfig({ configDir: sys, host })).has('local'));
  }));

test('as another user nothing is refused: the same group-writable config loads for uid 65534', () =>
  withDir((dir) => {
    chmodSync(dir, 0o755);
    const file = join(dir, 'config.json');
    writeFileSync(file, configText(dir));
    chmodSync(file, 0o666);
    const r = cli(['--config', file, 'config'], { env: { HOME: dir, NSPAWN_KIT_CONFIG_DIR: join(dir, 'none') }, uid: NOBODY, gid: NOBODY });
    assert.is(r.code, 0, r.stderr);
    assert.is((JSON.parse(r.stdout) as { stateDir: string }).stateDir, join(dir, 'state'));
  }));

test.run();
