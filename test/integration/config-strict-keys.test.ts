/**
 * Repository keys under StrictModes, with real gpg: as root, a recipe's key
 * file that a non-root user can write, or that sits in a directory one can
 * write, is refused (exit 2, the key path, the reason, the fix) by
 * `nspawn-kit config`, by the key preflight of a build and by the injection
 * that reads it; the same public key file, root's and 0644 in a directory of
 * root's, loads. Needs root (skips visibly without it).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from '../helpers/cli.js';
import { makeRecipe } from '../helpers/config.js';
import { exportKey, stopAgent, testKeyring } from '../helpers/gpg.js';
import { readKeyFile } from '../../src/config/repo-keys.js';
import { repositoryKeyProblems } from '../../src/machine/key-preflight.js';
import { loadRepositoryKeys } from '../../src/machine/sources.js';
import { ConfigError } from '../../src/errors.js';

const NOBODY = 65534;
const isRoot = process.geteuid?.() === 0;
const base = mkdtempSync(join(tmpdir(), 'nk-strict-keys-'));
const keys = join(base, 'keys');
mkdirSync(keys);
const key = join(keys, 'repo.asc');
const gpgEnv = testKeyring(base, 'repo-gnupg');
writeFileSync(key, exportKey(gpgEnv, true));
stopAgent(gpgEnv);

const cfg = join(base, 'cfg.json');
const repository = { name: 'extra', uri: 'http://127.0.0.1:9/extra', suite: 'bookworm', components: ['main'], key };
writeFileSync(cfg, JSON.stringify({ stateDir: join(base, 'state'), mirror: { root: join(base, 'mirror') }, recipes: { keyed: { codename: 'bookworm', repositories: [repository] } } }));
const recipe = makeRecipe({ name: 'keyed', source: cfg, repositories: [{ ...repository, enabled: true }] });

function problems(stderr: string): string[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('  - '))
    .map((l) => l.slice(4));
}

/** The same refusal through `config`, the preflight, the injection's read and readKeyFile. */
function assertRefused(why: string): void {
  const r = cli(['--config', cfg, 'config']);
  assert.is(r.code, 2, r.stderr);
  assert.equal(problems(r.stderr), [`${cfg}: recipes.keyed.repositories[0].key: ${why}`]);
  assert.equal(repositoryKeyProblems(recipe), [`recipe keyed (${cfg}): repository extra: ${why}`]);
  assert.throws(() => readKeyFile(key), (e: Error) => e instanceof ConfigError && JSON.stringify(e.problems) === JSON.stringify([why]));
}

test('a key file writable by others, owned by another user, or in a directory others can write is refused; root\'s 0644 in root\'s directory loads', async () => {
  if (!isRoot) return console.log('  (skipped: the ownership checks apply to root only; run the tests as root)');
  const ok = cli(['--config', cfg, 'config']);
  assert.is(ok.code, 0, ok.stderr);
  assert.equal(repositoryKeyProblems(recipe), []);
  assert.ok((await loadRepositoryKeys(recipe)).get('extra')?.content.toString().startsWith('-----BEGIN PGP PUBLIC KEY BLOCK-----'));

  chmodSync(key, 0o666);
  assertRefused(`${key}: writable by group or others (mode 0666): refusing to use this repository key as root; chmod go-w ${key}`);
  try {
    await loadRepositoryKeys(recipe);
    assert.unreachable('the injection read the key');
  } catch (err) {
    assert.instance(err, ConfigError);
    assert.is((err as ConfigError).exitCode, 2);
  }
  chmodSync(key, 0o644);
  chownSync(key, NOBODY, NOBODY);
  assertRefused(`${key}: owned by uid ${NOBODY}, not root: refusing to use this repository key as root; chown root ${key}`);
  chownSync(key, 0, 0);
  chmodSync(keys, 0o777);
  assertRefused(`${key}: its directory ${keys} is writable by group or others (mode 0777): refusing to use this repository key as root; chmod go-w ${keys}`);
  chmodSync(keys, 0o755);
  assert.is(cli(['--config', cfg, 'config']).code, 0);
});

test.after(() => rmSync(base, { recursive: true, force: true }));
test.run();
