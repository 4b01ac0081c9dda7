/**
 * The keys of a recipe's extra repositories in warm's private apt root (real gpg, apt-get,
 * apt-ftparchive; a local upstream and a local extra repository, each signed with its own
 * throwaway key, made at test time):
 * - as root, a key (`key`, or the host's `signedBy` file) in a directory a non-root user owns is
 *   refused with a ConfigError (exit 2) naming the file, by warm and by the function that writes
 *   the root's keys, and the root's sources are not written;
 * - a root-owned 0644 key is copied, normalised to its public keys (trailing text dropped), into
 *   `<root>/etc/keyrings/<repo>.asc` (0644); the sources name that copy, apt-get update accepts it
 *   and warm downloads the extra repository's package;
 * - a host `signedBy` that does not exist is skipped, as before.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Shell } from '../../src/shell.js';
import type { MirrorContext } from '../../src/mirror/context.js';
import { warmRecipes } from '../../src/mirror/warm.js';
import { extraRepositorySources, rootKeyringDir } from '../../src/mirror/warm-keys.js';
import { mirrorLayout } from '../../src/mirror/layout.js';
import { normalisePublicKeys } from '../../src/config/repo-keys.js';
import { ConfigError } from '../../src/errors.js';
import type { Repository } from '../../src/config/schema.js';
import { makeConfig, makeRecipe } from '../helpers/config.js';
import { makeUpstream } from '../helpers/upstream-repo.js';

const NOBODY = 65534;
const isRoot = process.geteuid?.() === 0;
const base = mkdtempSync(join(tmpdir(), 'nk-warm-keys-'));
const up = makeUpstream(join(base, 'up'), 'bookworm');
up.add('bookworm', { name: 'base-a', version: '1.0', priority: 'required' });
up.add('bookworm', { name: 'usr-is-merged', version: '37' });
up.add('bookworm', { name: 'apt', version: '2.6', depends: 'base-a' });
const extra = makeUpstream(join(base, 'extra'), 'bookworm');
extra.add('bookworm', { name: 'extra-tool', version: '2.0' });

/** The extra repository's public key, armored, with trailing text that must not reach the root. */
function armoredWithJunk(): Buffer {
  const home = join(base, 'armor-gnupg');
  mkdirSync(home, { mode: 0o700 });
  const env = { ...process.env, GNUPGHOME: home };
  execFileSync('gpg', ['--batch', '--quiet', '--import', extra.keyring], { env, stdio: 'ignore' });
  const armored = execFileSync('gpg', ['--batch', '--export', '--armor'], { env });
  execFileSync('gpgconf', ['--kill', 'all'], { env });
  return Buffer.concat([armored, Buffer.from('\ntrailing text, not a key\n')]);
}
const keyBytes = armoredWithJunk();
const rootsKeys = join(base, 'root-keys');
mkdirSync(rootsKeys, { mode: 0o755 });
const goodKey = join(rootsKeys, 'extra.asc');
writeFileSync(goodKey, keyBytes, { mode: 0o644 });
const userDir = join(base, 'user');
mkdirSync(userDir, { mode: 0o755 });
const userKey = join(userDir, 'k.asc');
writeFileSync(userKey, keyBytes, { mode: 0o644 });

const config = makeConfig(base);
const layout = mirrorLayout(config);
const ctx: MirrorContext = { sh: new Shell({}), config };
const repo = (r: Partial<Repository>): Repository => ({ name: 'extra', uri: extra.archive, suite: 'bookworm', components: ['main'], enabled: true, ...r });
const recipeWith = (repositories: Repository[]): ReturnType<typeof makeRecipe> =>
  makeRecipe({ name: 'keyed', codename: 'bookworm', variant: 'minbase', upstream: up.archive, suites: ['bookworm'], upstreams: { bookworm: up.archive }, packages: ['extra-tool'], repositories });
const rootDir = join(layout.state, 'warm', 'bookworm', 'apt-keyed');
const warmSources = join(rootDir, 'etc', 'sources.list.d', 'warm.sources');

function assertRefused(err: unknown, file: string): void {
  assert.instance(err, ConfigError);
  assert.is((err as ConfigError).exitCode, 2);
  assert.equal((err as ConfigError).problems, [`${file}: its directory ${userDir} is owned by uid ${NOBODY}, not root: refusing to use this repository key as root; chown root ${userDir}`]);
}

test('as root, a signedBy or key file in a directory a non-root user owns is refused (exit 2, naming the file); nothing is written', async () => {
  if (!isRoot) return console.log('  (skipped: the ownership checks apply to root only; run the tests as root)');
  chownSync(userDir, NOBODY, NOBODY);
  for (const r of [repo({ signedBy: userKey }), repo({ key: userKey })]) {
    try {
      await warmRecipes(ctx, [recipeWith([r])], { keyring: up.keyring });
      assert.unreachable('warm used a key a non-root user owns');
    } catch (err) {
      assertRefused(err, userKey);
    }
    try {
      await extraRepositorySources(ctx.sh, join(base, 'probe-root'), { name: 'keyed', repositories: [r] }, existsSync);
      assert.unreachable('the key was copied');
    } catch (err) {
      assertRefused(err, userKey);
    }
  }
  assert.not.ok(existsSync(warmSources));
  assert.not.ok(existsSync(join(base, 'probe-root')));
});

test('a root-owned 0644 key: the sources name its normalised copy in the private root, apt accepts it, the package is warmed', async () => {
  if (!isRoot) return console.log('  (skipped: needs root for the ownership checks)');
  const report = await warmRecipes(ctx, [recipeWith([repo({ signedBy: goodKey })])], { keyring: up.keyring });
  const r = report.recipes[0];
  assert.ok(r);
  assert.equal(r.warnings, []);
  const copy = join(rootKeyringDir(rootDir), 'extra.asc');
  assert.equal(readdirSync(rootKeyringDir(rootDir)), ['extra.asc']);
  const sources = readFileSync(warmSources, 'utf8');
  assert.ok(sources.includes(`URIs: ${extra.archive}\nSuites: bookworm\nComponents: main\nSigned-By: ${copy}\n`), sources);
  assert.not.ok(sources.includes(goodKey));
  const normal = normalisePublicKeys(keyBytes);
  assert.ok(typeof normal !== 'string');
  assert.ok(readFileSync(copy).equals(normal.content));
  assert.not.ok(readFileSync(copy, 'latin1').includes('trailing text'));
  assert.is(statSync(copy).mode & 0o7777, 0o644);
  // apt verified the extra repository's InRelease with the copy: its package was resolved and downloaded.
  const pool = execFileSync('find', [layout.root, '-name', 'extra-tool_2.0_*.deb'], { encoding: 'utf8' }).trim();
  assert.ok(pool.length > 0, 'extra-tool is in the mirror');
  const lists = readdirSync(join(rootDir, 'state', 'lists'));
  assert.ok(lists.some((l) => l.endsWith('InRelease') && l.includes('extra_debian')), lists.join(' '));
});

test('a host signedBy that does not exist is skipped; the copies of a dropped repository go', async () => {
  const probe = join(base, 'skip-root');
  const missing = join(base, 'nowhere', 'k.gpg');
  mkdirSync(rootKeyringDir(probe), { recursive: true });
  writeFileSync(join(rootKeyringDir(probe), 'old.gpg'), 'stale');
  const out = await extraRepositorySources(ctx.sh, probe, { name: 'keyed', repositories: [repo({ signedBy: missing }), repo({ name: 'off', key: goodKey, enabled: false })] }, existsSync);
  assert.equal(out.sources, []);
  assert.equal(out.skipped, [`extra: its key is only inside the container (${missing}); not warmed`]);
  assert.equal(readdirSync(rootKeyringDir(probe)), []);
});

test.after(() => rmSync(base, { recursive: true, force: true }));
test.run();
