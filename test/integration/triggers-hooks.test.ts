/**
 * The zx entry scripts, run as users run them (`npx zx hooks/...`), against
 * the built dist/ and a configuration file in a temp dir.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Shell } from '../../src/shell.js';
import { stopGpgAgent } from '../../src/mirror/keys.js';
import { mirrorLayout } from '../../src/mirror/layout.js';
import { PROVENANCE } from '../../src/machine/paths.js';
import { makeConfig } from '../helpers/config.js';
import { makeDeb } from '../helpers/debs.js';

const repo = resolve(import.meta.dirname, '../..');
const base = mkdtempSync(join(tmpdir(), 'nk-hooks-'));
const config = makeConfig(base);
const archive = config.mirror.archives[0]!.path;
const configFile = join(base, 'nspawnrc.json');
writeFileSync(
  configFile,
  JSON.stringify({
    stateDir: config.stateDir,
    mirror: { root: config.mirror.root, archives: config.mirror.archives, architectures: ['amd64'] },
    machines: { dir: config.machines.dir },
  }),
);

// The hooks import ../dist: `npm test` builds it first; run alone, build it here.
test.before(() => {
  if (process.env.NSPAWN_KIT_TEST_DIST === '1' && existsSync(join(repo, 'dist/triggers/daemon.js'))) return;
  // tsc emits even when someone else's file has a type error; the hooks only need ours.
  spawnSync(process.execPath, [join(repo, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: repo, stdio: 'ignore' });
  assert.ok(existsSync(join(repo, 'dist/triggers/daemon.js')), 'dist/ could not be built: run `npm run build`');
});

test.after(async () => {
  await stopGpgAgent({ sh: new Shell(), config });
  rmSync(base, { recursive: true, force: true });
});

function zx(script: string, ...args: string[]) {
  const r = spawnSync('npx', ['--no-install', 'zx', join('hooks', script), '--config', configFile, ...args], { cwd: repo, encoding: 'utf8' });
  return { code: r.status, out: `${r.stdout}\n${r.stderr}` };
}

const packages = (codename: string) => {
  const file = join(mirrorLayout(config).dists, codename, 'main/binary-amd64/Packages');
  return existsSync(file) ? [...readFileSync(file, 'utf8').matchAll(/^Package: (.+)$/gm)].map((m) => m[1]).sort() : [];
};

test('reindex-on-deb: given files and a machine archive end up in the signed index under the right codename', () => {
  mkdirSync(archive, { recursive: true });
  makeDeb(archive, { name: 'hookpkg' });
  const machine = join(config.machines.dir, 'box');
  const machineArchive = join(machine, 'var/cache/apt/archives');
  mkdirSync(machineArchive, { recursive: true });
  mkdirSync(join(machine, PROVENANCE, '..'), { recursive: true });
  writeFileSync(join(machine, PROVENANCE), JSON.stringify({ machine: 'box', codename: 'trixie' }));
  makeDeb(machineArchive, { name: 'boxpkg' });
  // A machine's file enters the mirror only when a list nspawn-kit verified names its bytes: warm's apt lists.
  const lists = join(config.stateDir, 'mirror/warm/trixie/apt-test/state/lists');
  mkdirSync(lists, { recursive: true });
  writeFileSync(join(lists, 'deb.debian.org_debian_dists_trixie_main_binary-amd64_Packages'), spawnSync('apt-ftparchive', ['packages', '.'], { cwd: machineArchive }).stdout);
  // Planted by root in the container, named by no verified list: quarantined, never indexed.
  makeDeb(join(machine, 'var/cache/apt/archives'), { name: 'plantedpkg' });
  // A hostile name among the files given on the command line.
  copyFileSync(join(archive, 'hookpkg_1.0-1_amd64.deb'), join(base, '$(touch pwned) --version.deb'));

  // The planted file is rejected: exit 1, as `mirror import` (the one exit-code rule), the rest is still indexed.
  const dry = zx('reindex-on-deb.mjs', '--dry-run');
  assert.is(dry.code, 1, dry.out);
  assert.match(dry.out, /\n  rejected: \S+\/plantedpkg_1\.0-1_amd64\.deb: not in any index nspawn-kit verified for trixie/);
  assert.equal(packages('bookworm'), [], 'dry run publishes nothing');

  const all = zx('reindex-on-deb.mjs');
  assert.is(all.code, 1, all.out);
  assert.match(all.out, /\n  rejected: \S+\/plantedpkg_1\.0-1_amd64\.deb: /);
  assert.equal(packages('bookworm'), ['hookpkg']);
  assert.equal(packages('trixie'), ['boxpkg']);
  assert.match(readFileSync(mirrorLayout(config).quarantine, 'utf8'), /plantedpkg_1\.0-1_amd64\.deb",\n\s+"reason": "not in any index nspawn-kit verified for trixie \(machine box\)"/);

  const one = zx('reindex-on-deb.mjs', '--codename', 'bookworm', '--', join(base, '$(touch pwned) --version.deb'));
  assert.is(one.code, 0, one.out);
  assert.not.ok(readdirSync(base).includes('pwned'));
  assert.not.ok(readdirSync(repo).includes('pwned'));

  const missing = zx('reindex-on-deb.mjs', join(base, 'nope.deb'));
  assert.is(missing.code, 2, missing.out);
  assert.match(missing.out, /no such file/);
});

test('nightly-refresh: one refresh now, under the lock', () => {
  makeDeb(archive, { name: 'nightlypkg' });
  // --no-warm: the bundled recipes marked `refresh` would download from the network.
  const r = zx('nightly-refresh.mjs', '--no-warm');
  assert.is(r.code, 0, r.out);
  assert.equal(packages('bookworm'), ['hookpkg', 'nightlypkg']);
});

test.run();
