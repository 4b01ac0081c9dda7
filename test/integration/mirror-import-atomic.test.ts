/**
 * Atomic pool ingest: a child process importing a 50 MB .deb is SIGKILLed
 * while its copy is in flight. The pool never holds a partial file under
 * the final name (only a temp name), and the next import removes the temp
 * and completes the ingest. The mirror published before the kill still verifies.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Shell } from '../../src/shell.js';
import { importFiles } from '../../src/mirror/import.js';
import { sha256File } from '../../src/mirror/deb.js';
import { mirrorLayout, suiteListPath } from '../../src/mirror/layout.js';
import { stateStagingDir } from '../../src/mirror/staging-dir.js';
import { publishMirror } from '../../src/mirror/publish.js';
import { verifyMirror } from '../../src/mirror/verify.js';
import { stopGpgAgent } from '../../src/mirror/keys.js';
import { makeConfig } from '../helpers/config.js';
import { makeDeb } from '../helpers/debs.js';
import { ROOT } from '../helpers/cli.js';

const bases: string[] = [];

/** 50 MB of random bytes, stored uncompressed: big enough that copy + fsync + hash take a while. */
function bigDeb(dir: string): string {
  const work = mkdtempSync(join(tmpdir(), 'nk-big-'));
  try {
    mkdirSync(join(work, 'DEBIAN'));
    writeFileSync(join(work, 'DEBIAN', 'control'), 'Package: big50\nVersion: 1.0-1\nArchitecture: amd64\nMaintainer: t <t@example.invalid>\nDescription: 50 MB\n');
    mkdirSync(join(work, 'usr', 'share', 'big50'), { recursive: true });
    execFileSync('sh', ['-c', 'head -c 52428800 /dev/urandom > "$1"', 'sh', join(work, 'usr', 'share', 'big50', 'blob')]);
    mkdirSync(dir, { recursive: true });
    const out = join(dir, 'big50_1.0-1_amd64.deb');
    execFileSync('dpkg-deb', ['-Znone', '--root-owner-group', '--build', work, out], { stdio: 'ignore' });
    return out;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const CHILD = `
import { Shell } from ${JSON.stringify(join(ROOT, 'src', 'shell.ts'))};
import { importFiles } from ${JSON.stringify(join(ROOT, 'src', 'mirror', 'import.ts'))};
const { config, file } = JSON.parse(process.env.NK_CHILD ?? '{}');
await importFiles({ sh: new Shell({ log: () => {} }), config }, [{ path: file, codename: 'bookworm' }]);
process.stdout.write('done\\n');
`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('SIGKILL during a 50 MB ingest leaves no partial pool file; the next import cleans up and completes', async () => {
  const base = mkdtempSync(join(tmpdir(), 'nk-atomic-'));
  bases.push(base);
  const src = bigDeb(join(base, 'archives'));
  const srcSha = (await sha256File(src)).sha256;
  const childFile = join(base, 'child.mts');
  writeFileSync(childFile, CHILD);

  let killedWithTemp = false;
  let config = makeConfig(join(base, 'm0'));
  for (let attempt = 0; attempt < 5 && !killedWithTemp; attempt++) {
    config = makeConfig(join(base, `m${attempt}`));
    // A published mirror first: it must still verify after the kill.
    const ctx = { sh: new Shell({ log: () => {} }), config };
    await importFiles(ctx, [{ path: makeDeb(join(base, 'small'), { name: 'small' }), codename: 'bookworm' }]);
    await publishMirror(ctx);
    const poolDir = join(mirrorLayout(config).pool, 'b', 'big50');
    // The single copy of the source goes to a temp name in the private staging directory under stateDir
    // (same file system as the pool here: validated there, then linked into place).
    const stageDir = stateStagingDir(mirrorLayout(config));
    const child = spawn(process.execPath, ['--import', 'tsx', childFile], {
      cwd: ROOT,
      env: { ...process.env, NK_CHILD: JSON.stringify({ config, file: src }) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let exited = false;
    child.on('exit', () => (exited = true));
    const deadline = Date.now() + 120_000;
    while (!exited && Date.now() < deadline) {
      const names = existsSync(stageDir) ? readdirSync(stageDir) : [];
      if (names.some((n) => n.endsWith('.incoming.deb.tmp'))) {
        child.kill('SIGKILL');
        killedWithTemp = true;
        break;
      }
      await sleep(2);
    }
    await new Promise((r) => (exited ? r(undefined) : child.on('exit', r)));
    if (!killedWithTemp) continue;

    // Right after the kill: the final name is absent, or (killed after the link) complete.
    const names = readdirSync(stageDir);
    const final = join(poolDir, 'big50_1.0-1_amd64.deb');
    if (existsSync(final)) assert.is((await sha256File(final)).sha256, srcSha, 'a final-named pool file is always complete');
    assert.ok(names.some((n) => /^\.nk-\d+-[0-9a-f]+\.incoming\.deb\.tmp$/.test(n)), names.join(', '));
    assert.not.match(readFileSync(suiteListPath(mirrorLayout(config), 'bookworm'), 'utf8'), 'big50', 'nothing was recorded in the suite');
    const verified = await verifyMirror(ctx);
    assert.ok(verified.ok, verified.problems.join('\n'));
    await stopGpgAgent(ctx);
  }
  assert.ok(killedWithTemp, 'the child was caught mid-copy at least once');

  // The next import removes the dead writer's temp and completes the ingest.
  const report = await importFiles({ sh: new Shell({ log: () => {} }), config }, [{ path: src, codename: 'bookworm' }]);
  assert.is(report.cleanedTemps.length, 1);
  assert.is(report.imported.length, 1);
  const poolDir = join(mirrorLayout(config).pool, 'b', 'big50');
  assert.equal(readdirSync(poolDir), ['big50_1.0-1_amd64.deb']);
  assert.equal(readdirSync(mirrorLayout(config).pool).filter((n) => n.endsWith('.tmp')), [], 'no temp left in the pool');
  assert.equal(readdirSync(stateStagingDir(mirrorLayout(config))), [], 'no temp left in the staging directory');
  assert.is((await sha256File(join(poolDir, 'big50_1.0-1_amd64.deb'))).sha256, srcSha);
  assert.equal(readFileSync(suiteListPath(mirrorLayout(config), 'bookworm'), 'utf8'), 'pool/main/b/big50/big50_1.0-1_amd64.deb\npool/main/s/small/small_1.0-1_amd64.deb\n');
});

test('a live writer\'s temp file is left alone', async () => {
  const base = mkdtempSync(join(tmpdir(), 'nk-atomic-'));
  bases.push(base);
  const config = makeConfig(base);
  const dir = join(mirrorLayout(config).pool, 'x', 'xx');
  mkdirSync(dir, { recursive: true });
  const mine = join(dir, `.nk-${process.pid}-0123456789ab.xx_1_amd64.deb.tmp`);
  const dead = join(dir, '.nk-999999999-0123456789ab.xx_2_amd64.deb.tmp');
  writeFileSync(mine, 'in flight');
  writeFileSync(dead, 'left by a killed import');
  const report = await importFiles({ sh: new Shell({ log: () => {} }), config }, []);
  assert.equal(report.cleanedTemps, ['pool/main/x/xx/.nk-999999999-0123456789ab.xx_2_amd64.deb.tmp']);
  assert.ok(existsSync(mine));
  assert.not.ok(existsSync(dead));
});

test.after(() => {
  for (const b of bases) rmSync(b, { recursive: true, force: true });
});

test.run();
