/**
 * A recipe repository key file that is not there is refused before anything
 * is downloaded or built (issue 11, part 1): `nspawn-kit config` accepts the
 * recipe (the bundled qgis-nightly-ubuntu names keys the user saves), but
 * `nspawn-kit create` and `tasks/container.mjs` stop at once with exit 2,
 * naming the file and what to do, and leave every directory as it was.
 * Real gpg for the key that is there; the CLI and the zx script as users run them.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repositoryKeyProblems } from '../../src/machine/key-preflight.js';
import { cli } from '../helpers/cli.js';
import { exportKey, stopAgent, testKeyring } from '../helpers/gpg.js';
import { makeRecipe } from '../helpers/config.js';
import { snapshotTree } from '../helpers/tree.js';
import { zxScript } from '../helpers/zx.js';

const keyHome = mkdtempSync(join(tmpdir(), 'nk-preflight-gpg-'));
const gpgEnv = testKeyring(keyHome);
const PUBLIC = exportKey(gpgEnv, true);
stopAgent(gpgEnv);

const base = mkdtempSync(join(tmpdir(), 'nk-preflight-'));
const recipes = join(base, 'recipes');
mkdirSync(join(recipes, 'keys'), { recursive: true });
writeFileSync(join(recipes, 'keys', 'present.asc'), PUBLIC);
const repo = (name: string, key: string) => ({ name, uri: 'http://127.0.0.1:9/extra', suite: 'bookworm', components: ['main'], key });
writeFileSync(
  join(recipes, 'keyed.json'),
  JSON.stringify({ codename: 'bookworm', packages: ['systemd'], repositories: [repo('present', 'keys/present.asc'), repo('extra', 'keys/missing.asc')] }),
);
const cfg = join(base, 'cfg.json');
// Nothing reachable: a build that started anyway would fail, not download.
writeFileSync(
  cfg,
  JSON.stringify({
    stateDir: join(base, 'state'),
    mirror: { root: join(base, 'mirror'), archives: [], upstreams: { bookworm: 'http://127.0.0.1:9/debian' } },
    machines: { dir: join(base, 'machines'), settingsDir: join(base, 'nspawn'), unitDir: join(base, 'units') },
    recipeDirs: [recipes],
  }),
);
const missing = join(recipes, 'keys', 'missing.asc');
const PROBLEM = `  - recipe keyed (${join(recipes, 'keyed.json')}): repository extra: key file ${missing} does not exist: save the repository's public key there (e.g. download its .asc), or change "key" in the recipe`;
const HINT = '  → Save each key file named above, then run again; nothing was downloaded or built. `nspawn-kit config` shows which recipes name which keys.';

test('nspawn-kit config accepts a recipe whose key file is not saved yet', () => {
  const r = cli(['--config', cfg, 'config'], { env: { NO_COLOR: '1' } });
  assert.is(r.code, 0, r.stderr);
});

test('nspawn-kit create (and --dry-run): exit 2 at once, naming the missing key file and what to do; nothing created', () => {
  const before = snapshotTree(base);
  for (const args of [['create', 'keyed', '--dry-run'], ['create', 'keyed', '--name', 'box']]) {
    const started = Date.now();
    const r = cli(['--config', cfg, ...args], { env: { NO_COLOR: '1' }, timeoutMs: 120_000 });
    assert.is(r.code, 2, `${args.join(' ')}: ${r.stderr}${r.stdout}`);
    // The CLI's error (listr printed the failed stage above it): the one problem, then what to do.
    const lines = r.stderr.split('\n');
    const at = lines.indexOf('nspawn-kit: invalid configuration:');
    assert.ok(at >= 0, r.stderr);
    assert.equal(lines.slice(at + 1).filter(Boolean), [PROBLEM, HINT], 'only the missing key: the saved one is a public key');
    assert.not.match(r.stdout + r.stderr, /\[dry-run\]|debootstrap|base cache/);
    assert.ok(Date.now() - started < 60_000);
    // No base, no machine dir, no download, no state: the tree is exactly as before.
    assert.equal(snapshotTree(base), before, args.join(' '));
  }
});

test('tasks/container.mjs --recipe: exit 2 from the first stage, before host tools, warm or bootstrap; nothing created', () => {
  const before = snapshotTree(base);
  const r = zxScript('tasks/container.mjs', ['--recipe', 'keyed', '--name', 'box', '--config', cfg, '--dry-run'], { env: { NO_COLOR: '1' }, timeoutMs: 120_000 });
  assert.is(r.code, 2, r.stderr + r.stdout);
  assert.ok(r.stderr.split('\n').includes(PROBLEM), r.stderr);
  const out = r.stdout + r.stderr;
  assert.match(out, 'Recipe repository keys');
  // No later stage ran, not even in plan.
  assert.not.match(out, /Host tools|Machine name|Mirror directories|\[dry-run\]/);
  assert.equal(snapshotTree(base), before);
});

test('repositoryKeyProblems: a FIFO or a directory as key file is refused without being opened; a saved key is fine', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nk-preflight-fifo-'));
  try {
    execFileSync('mkfifo', ['--', join(dir, 'fifo.asc')]);
    mkdirSync(join(dir, 'dir.asc'));
    writeFileSync(join(dir, 'junk.asc'), 'not a key\n');
    writeFileSync(join(dir, 'ok.asc'), PUBLIC);
    const recipe = makeRecipe({
      name: 'r',
      source: 'r.json',
      repositories: ['fifo', 'dir', 'junk', 'ok'].map((n) => ({ name: n, uri: 'http://127.0.0.1:9/x', suite: 'bookworm', components: ['main'], enabled: true, key: join(dir, `${n}.asc`) })),
    });
    const at = (n: string) => `recipe r (r.json): repository ${n}: key file ${join(dir, `${n}.asc`)}`;
    assert.equal(repositoryKeyProblems(recipe), [
      `${at('fifo')} is not a regular file`,
      `${at('dir')} is not a regular file`,
      `${at('junk')} holds no OpenPGP public key (armored "-----BEGIN PGP PUBLIC KEY BLOCK-----" or binary); export the public key with \`gpg --export --armor KEYID\``,
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.after(() => {
  rmSync(base, { recursive: true, force: true });
  rmSync(keyHome, { recursive: true, force: true });
});
test.run();
