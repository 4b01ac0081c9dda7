/**
 * A full disk during publish: mirror.root on a tiny tmpfs. The free-space
 * check refuses with a clear message; with the check off, the real ENOSPC
 * (which apt-ftparchive exits 0 on) still fails the publish with one line
 * naming the path and the space needed. Either way the previous publication
 * stays intact and verifies, no temporary file stays behind, and a publish
 * after space is freed succeeds.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Shell } from '../../src/shell.js';
import type { MirrorContext } from '../../src/mirror/context.js';
import { mirrorLayout, poolRelativePath, suiteListPath } from '../../src/mirror/layout.js';
import { stopGpgAgent } from '../../src/mirror/keys.js';
import { publishMirror } from '../../src/mirror/publish.js';
import { verifyMirror } from '../../src/mirror/verify.js';
import { makeConfig } from '../helpers/config.js';
import { makeDeb } from '../helpers/debs.js';

const base = mkdtempSync(join(tmpdir(), 'nk-enospc-'));
const config = makeConfig(base);
const ctx: MirrorContext = { sh: new Shell({ log: () => {} }), config };
const layout = mirrorLayout(config);
mkdirSync(layout.root, { recursive: true });
const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=4m,mode=0755', 'tmpfs', layout.root]).status === 0;

function free(): number {
  const st = statfsSync(layout.root);
  return st.bavail * st.bsize;
}

/** Leaves about `reserve` bytes free on the tmpfs. */
function fillUntil(reserve: number): void {
  const size = Math.max(0, free() - reserve);
  writeFileSync(join(layout.root, 'filler'), Buffer.alloc(size));
}

/** Temp files of ours (atomic writes, pool copies) and anything left in the staging dir. */
function leftovers(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((p) => /(^|\/)\..*\.tmp$/.test(p) || /(^|\/)\.nk-/.test(p) || (p.startsWith('.staging/') && p.split('/').length > 1))
    .sort();
}

const ifMounted = mounted ? test : test.skip;
let cacheMounted = false;
if (!mounted) console.log('  (mount -t tmpfs failed: needs root and mount permission; the ENOSPC test is skipped)');

ifMounted('a full disk fails the publish with a clear error and leaves the previous publication intact', async () => {
  const pool: string[] = [];
  // Enough members that the largest reserve below is just too little, so ENOSPC also strikes late
  // in the publish (120 entries of ~450 bytes, MD5sum and SHA256: 176 KiB needed on this tmpfs).
  for (let i = 0; i < 120; i++) {
    const rel = poolRelativePath({ name: `fill${i}`, version: '1.0-1', architecture: 'amd64' });
    mkdirSync(dirname(join(layout.root, rel)), { recursive: true });
    copyFileSync(makeDeb(join(base, 'debs'), { name: `fill${i}` }), join(layout.root, rel));
    pool.push(rel);
  }
  const setMembers = (m: string[]) => {
    mkdirSync(layout.suites, { recursive: true });
    writeFileSync(suiteListPath(layout, 'bookworm'), [...m].sort().join('\n') + '\n');
  };
  setMembers(pool.slice(0, 5));
  await publishMirror(ctx);
  const inRelease = join(layout.root, 'dists/bookworm/InRelease');
  const previous = readFileSync(inRelease);
  setMembers(pool);

  // 1. The estimate refuses before anything is written.
  fillUntil(64 * 1024);
  const refused = await publishMirror(ctx).then(() => undefined, (e: Error) => e);
  assert.match(refused?.message ?? '', /not enough free space to publish under .*nothing was changed/);
  assert.ok(readFileSync(inRelease).equals(previous));

  // 2. With the estimate off, the real ENOSPC is caught wherever it strikes.
  for (const reserve of [0, 8 * 1024, 24 * 1024, 48 * 1024, 96 * 1024, 128 * 1024, 160 * 1024]) {
    rmSync(join(layout.root, 'filler'));
    fillUntil(reserve);
    const err = await publishMirror(ctx, { spaceCheck: false }).then(() => undefined, (e: Error) => e);
    assert.ok(err, `publish with ${reserve} bytes free must fail`);
    // One line: where, how much space the publish needs, and that the previous publication is live.
    assert.match(
      err.message,
      new RegExp(`^no space left on the file system of ${layout.root}(/\\S*)? while publishing bookworm: about 1\\.5 MiB needed, \\d+\\.\\d MiB free; the previous publication is still live$`),
      err.message,
    );
    assert.ok(readFileSync(inRelease).equals(previous), `InRelease untouched (${reserve} bytes free)`);
    assert.equal(leftovers(layout.root), [], `no temporary files left (${reserve} bytes free)`);
    const check = await verifyMirror(ctx);
    assert.equal(check.problems, [], `previous publication verifies (${reserve} bytes free)`);
  }

  // 3. Space back: the next publish succeeds.
  rmSync(join(layout.root, 'filler'));
  const report = await publishMirror(ctx);
  assert.is(report.suites[0]!.packages, pool.length);
  assert.equal((await verifyMirror(ctx)).problems, []);
});

ifMounted('a full disk under the indexer\'s cache: one line naming it; the next publish repairs the cache database and succeeds', async () => {
  // The cache on its own tiny file system (it starts empty: every entry must be written).
  mkdirSync(layout.cache, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m,mode=0755', 'tmpfs', layout.cache]);
  cacheMounted = true;
  const inRelease = join(layout.root, 'dists/bookworm/InRelease');
  const previous = readFileSync(inRelease);
  const st = statfsSync(layout.cache);
  writeFileSync(join(layout.cache, 'filler'), Buffer.alloc(Math.max(0, st.bavail * st.bsize - 4096)));
  const err = await publishMirror(ctx, { spaceCheck: false }).then(() => undefined, (e: Error) => e);
  assert.is(err?.message, `no space left on the file system of ${layout.cache} while publishing bookworm: about 1.5 MiB needed, 0.0 MiB free; the previous publication is still live`);
  assert.ok(readFileSync(inRelease).equals(previous), 'InRelease untouched');
  // Berkeley DB's half-made database: with it, apt-ftparchive retries for 100 s, then fails.
  assert.ok(existsSync(join(layout.cache, '__db.packages.db')), 'the full disk left __db.packages.db behind');
  rmSync(join(layout.cache, 'filler'));
  const started = Date.now();
  const lines: string[] = [];
  const report = await publishMirror({ ...ctx, log: (l) => lines.push(l) });
  assert.ok(Date.now() - started < 60_000, `no 100 s retry loop (${Date.now() - started} ms)`);
  assert.ok(lines.includes(`removing ${join(layout.cache, '__db.packages.db')}, left by an apt-ftparchive run that did not finish`), lines.join('\n'));
  assert.is(report.suites[0]!.packages, 120);
  assert.ok(existsSync(join(layout.cache, 'packages.db')));
  assert.not.ok(existsSync(join(layout.cache, '__db.packages.db')));
  assert.equal((await verifyMirror(ctx)).problems, []);
});

test.after(async () => {
  await stopGpgAgent(ctx);
  if (cacheMounted) execFileSync('umount', [layout.cache]);
  if (mounted) execFileSync('umount', [layout.root]);
  rmSync(base, { recursive: true, force: true });
});

test.run();
