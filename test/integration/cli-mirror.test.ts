import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { cli } from '../helpers/cli.js';
import { makeDeb } from '../helpers/debs.js';
import { diffTrees, snapshotTree } from '../helpers/tree.js';

const base = mkdtempSync(join(tmpdir(), 'nk-cli-mirror-'));
const archives = join(base, 'archives');
const cfg = join(base, 'nspawnrc.json');
mkdirSync(archives);
writeFileSync(
  cfg,
  JSON.stringify({ stateDir: join(base, 'state'), mirror: { root: join(base, 'mirror'), archives: [{ path: archives, codename: 'bookworm' }] }, machines: { dir: join(base, 'machines') } }),
);
const run = (...args: string[]) => cli(['--config', cfg, ...args], { cwd: base });

test.after(() => {
  try {
    execFileSync('gpgconf', ['--homedir', join(base, 'state', 'gnupg'), '--kill', 'all'], { stdio: 'ignore' });
  } catch {
    /* no agent started */
  }
  rmSync(base, { recursive: true, force: true });
});

test('--dry-run import+publish prints the commands and changes nothing on disk', () => {
  makeDeb(archives, { name: 'hello-nk' });
  const before = snapshotTree(base);
  const imp = run('--dry-run', 'mirror', 'import');
  assert.is(imp.code, 0, imp.stderr);
  const pub = run('--dry-run', 'mirror', 'publish');
  assert.is(pub.code, 0, pub.stderr);
  assert.match(imp.stderr, '[dry-run] install -D -m 0644 -T --');
  assert.match(pub.stdout, 'nothing to publish');
  assert.equal(diffTrees(before, snapshotTree(base)), []);
  assert.not.ok(existsSync(join(base, 'state')));
});

test('import, publish, verify, status through the CLI; hostile names run nothing', () => {
  makeDeb(archives, { name: 'world-nk', version: '2:1.0-1' }, '--version.deb');
  writeFileSync(join(archives, '$(touch pwned).deb'), 'garbage');
  const imp = run('mirror', 'import');
  assert.is(imp.code, 1, 'a rejected file makes import exit 1');
  assert.match(imp.stdout, '2 imported');
  assert.match(imp.stdout, '$(touch pwned).deb: not a valid .deb');
  assert.not.ok(existsSync(join(base, 'pwned')));
  assert.not.ok(existsSync(join(process.cwd(), 'pwned')));
  const pub = run('mirror', 'publish');
  assert.is(pub.code, 0, pub.stderr);
  const packages = readFileSync(join(base, 'mirror/dists/bookworm/main/binary-amd64/Packages'), 'utf8');
  assert.match(packages, 'Package: hello-nk');
  assert.match(packages, 'Package: world-nk');
  assert.not.match(packages, 'pwned');
  const ver = run('mirror', 'verify');
  assert.is(ver.code, 0, ver.stdout + ver.stderr);
  const status = run('--json', 'status');
  const s = JSON.parse(status.stdout) as { suites: { codename: string; packages: number }[]; quarantined: unknown[] };
  assert.is(s.suites[0]?.packages, 2);
  assert.is(s.quarantined.length, 1);
  // Tampering with the published index makes verify fail (exit 1) and name the file.
  writeFileSync(join(base, 'mirror/dists/bookworm/main/binary-amd64/Packages'), packages.replace('hello-nk', 'hellO-nk'));
  const bad = run('mirror', 'verify');
  assert.is(bad.code, 1);
  assert.match(bad.stdout, 'Packages');
});

test('usage errors exit 2', () => {
  assert.is(run('mirror', 'import', '--from', archives).code, 2);
  assert.is(run('mirror', 'serve', '--port', 'abc').code, 2);
  assert.is(run('mirror', 'warm', 'no-such-recipe').code, 2);
});

test.run();
