/**
 * Trust and filing by suite, with real dpkg-deb, apt-ftparchive and gpg: a
 * machine's .deb is admitted when a verified list of its codename's FAMILY
 * names its bytes, and filed under the suite(s) whose lists name it (a
 * security fix fetched from upstream -security lands in bookworm-security);
 * trixie's lists (release or -security) never vouch for a bookworm machine.
 * An admin archive configured with codename "bookworm-security" fills that
 * suite through the CLI, end to end.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { Shell } from '../../src/shell.js';
import type { MirrorContext } from '../../src/mirror/context.js';
import { importFiles } from '../../src/mirror/import.js';
import { mirrorLayout, suiteListPath } from '../../src/mirror/layout.js';
import { loadTrustedIndex } from '../../src/mirror/trusted-index.js';
import { sha256File } from '../../src/mirror/deb.js';
import { makeConfig } from '../helpers/config.js';
import { makeDeb } from '../helpers/debs.js';
import { cli } from '../helpers/cli.js';
import { removeTestTree } from '../helpers/cleanup.js';

const bases: string[] = [];

function newBase(): string {
  const base = mkdtempSync(join(tmpdir(), 'nk-isuites-'));
  bases.push(base);
  return base;
}

/** apt-ftparchive packages over one fixture .deb, written as warm's root of `codename` keeps the list of `suite`. */
function verifiedList(stateDir: string, codename: string, host: string, suite: string, deb: string): void {
  const dir = join(stateDir, 'mirror', 'warm', codename, 'apt-test-recipe', 'state', 'lists');
  mkdirSync(join(dir, 'partial'), { recursive: true });
  const repo = mkdtempSync(join(dirname(deb), 'one-'));
  copyFileSync(deb, join(repo, 'x.deb'));
  const text = execFileSync('apt-ftparchive', ['packages', '.'], { cwd: repo, encoding: 'utf8' });
  const file = join(dir, `${host}_dists_${suite}_main_binary-amd64_Packages`);
  writeFileSync(file, (existsSync(file) ? readFileSync(file, 'utf8') + '\n' : '') + text);
}

const listed = (layout: ReturnType<typeof mirrorLayout>, suite: string): string[] => {
  const p = suiteListPath(layout, suite);
  return existsSync(p) ? readFileSync(p, 'utf8').split('\n').filter(Boolean) : [];
};

test('a machine file goes into the suite whose verified list names its bytes; trixie lists vouch for nothing', async () => {
  const base = newBase();
  const config = makeConfig(base);
  const ctx: MirrorContext = { sh: new Shell({ log: () => {} }), config, log: () => {} };
  const layout = mirrorLayout(config);
  const repo = join(base, 'repo');
  const rel = makeDeb(repo, { name: 'relpkg' });
  const fix = makeDeb(repo, { name: 'openssl', version: '3.0.15-1~deb12u1' });
  const upd = makeDeb(repo, { name: 'tzdata', version: '2025a-0+deb12u1' });
  const tx = makeDeb(repo, { name: 'trixiepkg' });
  const txsec = makeDeb(repo, { name: 'trixiesec' });
  verifiedList(config.stateDir, 'bookworm', 'deb.debian.org_debian', 'bookworm', rel);
  verifiedList(config.stateDir, 'bookworm', 'deb.debian.org_debian-security', 'bookworm-security', fix);
  verifiedList(config.stateDir, 'bookworm', 'deb.debian.org_debian', 'bookworm-updates', upd);
  verifiedList(config.stateDir, 'trixie', 'deb.debian.org_debian', 'trixie', tx);
  verifiedList(config.stateDir, 'trixie', 'deb.debian.org_debian-security', 'trixie-security', txsec);

  const index = await loadTrustedIndex(ctx.sh, layout, 'bookworm');
  const facts = async (name: string, version: string, path: string) => ({ name, version, architecture: 'amd64', ...(await sha256File(path)) });
  assert.equal(index.suitesOf(await facts('openssl', '3.0.15-1~deb12u1', fix)), ['bookworm-security']);
  assert.equal(index.suitesOf(await facts('relpkg', '1.0-1', rel)), ['bookworm']);
  assert.equal(index.suitesOf(await facts('trixiesec', '1.0-1', txsec)), []);

  const cache = join(base, 'machines', 'm1', 'var', 'cache', 'apt', 'archives');
  mkdirSync(cache, { recursive: true });
  for (const f of [rel, fix, upd, tx, txsec]) copyFileSync(f, join(cache, basename(f)));
  const files = [rel, fix, upd, tx, txsec].map((f) => ({ path: join(cache, basename(f)), codename: 'bookworm', machine: 'm1' }));
  const r = await importFiles(ctx, files);
  assert.equal(
    r.imported.map((i) => [i.package, i.codename, i.suites]).sort(),
    [
      ['openssl', 'bookworm', ['bookworm-security']],
      ['relpkg', 'bookworm', ['bookworm']],
      ['tzdata', 'bookworm', ['bookworm-updates']],
    ],
  );
  assert.equal(r.rejected.map((x) => [basename(x.file), x.reason]).sort(), [
    ['trixiepkg_1.0-1_amd64.deb', 'not in any index nspawn-kit verified for bookworm (machine m1)'],
    ['trixiesec_1.0-1_amd64.deb', 'not in any index nspawn-kit verified for bookworm (machine m1)'],
  ]);
  assert.equal(listed(layout, 'bookworm'), ['pool/main/r/relpkg/relpkg_1.0-1_amd64.deb']);
  assert.equal(listed(layout, 'bookworm-security'), ['pool/main/o/openssl/openssl_3.0.15-1~deb12u1_amd64.deb']);
  assert.equal(listed(layout, 'bookworm-updates'), ['pool/main/t/tzdata/tzdata_2025a-0+deb12u1_amd64.deb']);
  assert.equal(r.addedToSuites, { bookworm: 1, 'bookworm-security': 1, 'bookworm-updates': 1 });
});

test('mirror import: an admin archive configured with codename bookworm-security fills that suite, then publish signs it', () => {
  const base = newBase();
  const archive = join(base, 'security-archive');
  makeDeb(archive, { name: 'hello', version: '1.1-1' });
  const cfg = join(base, 'nspawnrc.json');
  const root = join(base, 'mirror');
  writeFileSync(
    cfg,
    JSON.stringify({ stateDir: join(base, 'state'), mirror: { root, archives: [{ path: archive, codename: 'bookworm-security' }] }, machines: { dir: join(base, 'machines') } }),
  );
  const run = (...args: string[]) => cli(['--config', cfg, ...args], { cwd: base, env: { NO_COLOR: '1' } });
  const imp = run('mirror', 'import');
  assert.is(imp.code, 0, imp.stderr + imp.stdout);
  assert.is(readFileSync(join(base, 'state', 'mirror', 'suites', 'bookworm-security.list'), 'utf8'), 'pool/main/h/hello/hello_1.1-1_amd64.deb\n');
  const pub = run('mirror', 'publish');
  assert.is(pub.code, 0, pub.stderr + pub.stdout);
  assert.match(pub.stdout, /^bookworm: 0 packages/m);
  assert.match(pub.stdout, /^bookworm-security: 1 packages/m);
  const security = readFileSync(join(root, 'dists', 'bookworm-security', 'main', 'binary-amd64', 'Packages'), 'utf8');
  assert.equal([...security.matchAll(/^(Package|Version): (.*)$/gm)].map((m) => m[2]), ['hello', '1.1-1']);
  assert.is(readFileSync(join(root, 'dists', 'bookworm', 'main', 'binary-amd64', 'Packages'), 'utf8'), '');
  execFileSync('gpgv', ['--keyring', join(root, 'mirror.gpg'), '--', join(root, 'dists', 'bookworm-security', 'InRelease')], { stdio: 'ignore' });
  const verify = run('mirror', 'verify');
  assert.is(verify.code, 0, verify.stderr + verify.stdout);
});

test.after(async () => {
  for (const base of bases) await removeTestTree(base);
});

test.run();
