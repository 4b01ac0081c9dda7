/**
 * A full disk during import (issue 11, part 7): mirror.root on a small tmpfs,
 * almost full. Through the real CLI: the file that does not fit is reported
 * on one line naming it, the pool directory and the bytes it needs, and
 * quarantined (exit 1); the files that fit are imported; no temp file stays
 * in the pool; the verdict is not remembered, so once space is freed the next
 * import takes the file in and clears it from the quarantine, and the mirror
 * publishes and verifies.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, statfsSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from '../helpers/cli.js';
import { makeDeb } from '../helpers/debs.js';

const base = mkdtempSync(join(tmpdir(), 'nk-import-enospc-'));
const root = join(base, 'mirror');
const archives = join(base, 'archives');
const cfg = join(base, 'nspawnrc.json');
mkdirSync(root);
mkdirSync(archives);
writeFileSync(cfg, JSON.stringify({ stateDir: join(base, 'state'), mirror: { root, archives: [{ path: archives, codename: 'bookworm' }] }, machines: { dir: join(base, 'machines') } }));
const run = (...args: string[]) => cli(['--config', cfg, ...args], { cwd: base });
const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=4m,mode=0755', 'tmpfs', root]).status === 0;
const ifMounted = mounted ? test : test.skip;
if (!mounted) console.log('  (mount -t tmpfs failed: needs root and mount permission; the import ENOSPC test is skipped)');

/** A .deb of `bytes` incompressible bytes (dpkg-deb -Znone over random data). */
function bigDeb(name: string, bytes: number): string {
  const work = mkdtempSync(join(tmpdir(), 'nk-bigdeb-'));
  try {
    mkdirSync(join(work, 'DEBIAN'));
    writeFileSync(join(work, 'DEBIAN', 'control'), `Package: ${name}\nVersion: 1.0-1\nArchitecture: amd64\nMaintainer: t <t@example.invalid>\nDescription: big\n`);
    mkdirSync(join(work, 'usr', 'share', name), { recursive: true });
    writeFileSync(join(work, 'usr', 'share', name, 'payload'), randomBytes(bytes));
    const out = join(archives, `${name}_1.0-1_amd64.deb`);
    execFileSync('dpkg-deb', ['-Znone', '--root-owner-group', '--build', work, out], { stdio: 'ignore' });
    return out;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const free = () => {
  const st = statfsSync(root);
  return st.bavail * st.bsize;
};
const poolFiles = () => (readdirSync(join(root, 'pool'), { recursive: true }) as string[]).filter((n) => /\.(deb|tmp)$/.test(n)).sort();

ifMounted('a file that does not fit is reported on one line and quarantined, the others imported, no temp left; freed space lets it in', () => {
  for (const name of ['small-a', 'small-b']) makeDeb(archives, { name });
  const big = bigDeb('big', 300 * 1024);
  const bigSize = readFileSync(big).length;
  // About 64 KiB left: both small .debs fit, the big one does not.
  writeFileSync(join(root, 'filler'), Buffer.alloc(Math.max(0, free() - 64 * 1024)));

  const imp = run('mirror', 'import');
  assert.is(imp.code, 1, `${imp.stdout}\n${imp.stderr}`);
  assert.match(imp.stdout, /^import: 2 imported, 0 already present, 0 unchanged, 0 conflict\(s\), 1 rejected$/m);
  const line = imp.stdout.split('\n').find((l) => l.includes(big));
  assert.match(
    line ?? '',
    new RegExp(`^  rejected: ${big}: no space left on device: copying into ${join(root, 'pool', 'main', '.nk-staging')} needs ${bigSize} bytes \\(\\d+ available\\); not imported \\(free space there, then import again\\)$`),
  );
  assert.equal(poolFiles(), ['main/s/small-a/small-a_1.0-1_amd64.deb', 'main/s/small-b/small-b_1.0-1_amd64.deb']);
  // The mirror root is its own file system here (stateDir is not): the copy is staged in a private 0700 dot-directory of the pool.
  assert.is(statSync(join(root, 'pool', 'main', '.nk-staging')).mode & 0o777, 0o700);
  const suite = readFileSync(join(base, 'state', 'mirror', 'suites', 'bookworm.list'), 'utf8');
  assert.is(suite, 'pool/main/s/small-a/small-a_1.0-1_amd64.deb\npool/main/s/small-b/small-b_1.0-1_amd64.deb\n');
  const quarantine = JSON.parse(readFileSync(join(base, 'state', 'mirror', 'quarantine.json'), 'utf8')) as { file: string; reason: string }[];
  assert.equal(quarantine.map((q) => q.file), [big]);
  assert.match(quarantine[0]!.reason, /^no space left on device/);

  // Space freed: the same file goes in (the verdict was not cached) and leaves the quarantine.
  rmSync(join(root, 'filler'));
  const again = run('mirror', 'import');
  assert.is(again.code, 0, `${again.stdout}\n${again.stderr}`);
  assert.match(again.stdout, /^import: 1 imported, 0 already present, 2 unchanged, 0 conflict\(s\), 0 rejected$/m);
  assert.equal(poolFiles(), ['main/b/big/big_1.0-1_amd64.deb', 'main/s/small-a/small-a_1.0-1_amd64.deb', 'main/s/small-b/small-b_1.0-1_amd64.deb']);
  assert.equal(JSON.parse(readFileSync(join(base, 'state', 'mirror', 'quarantine.json'), 'utf8')), []);
  const pub = run('mirror', 'publish');
  assert.is(pub.code, 0, pub.stderr);
  const verify = run('mirror', 'verify');
  assert.is(verify.code, 0, `${verify.stdout}\n${verify.stderr}`);
});

test.after(() => {
  try {
    execFileSync('gpgconf', ['--homedir', join(base, 'state', 'gnupg'), '--kill', 'all'], { stdio: 'ignore' });
  } catch {
    /* no agent started */
  }
  if (mounted) spawnSync('umount', [root]);
  rmSync(base, { recursive: true, force: true });
});

test.run();
