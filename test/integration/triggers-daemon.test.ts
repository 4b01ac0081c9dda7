/**
 * The daemon with the real importer and publisher: files landing in a
 * watched archive become downloadable by a real apt client (private root,
 * Signed-By), file events during a refresh coalesce into one follow-up run,
 * and kill -9 in the middle of a publish needs no clean-up.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../../src/config/types.js';
import type { MirrorContext } from '../../src/mirror/context.js';
import { importArchives } from '../../src/mirror/import.js';
import { archiveOwner } from '../../src/triggers/archive-owner.js';
import { stopGpgAgent } from '../../src/mirror/keys.js';
import { mirrorLayout } from '../../src/mirror/layout.js';
import { PROVENANCE } from '../../src/machine/paths.js';
import { publishMirror } from '../../src/mirror/publish.js';
import { verifyMirror } from '../../src/mirror/verify.js';
import { Shell } from '../../src/shell.js';
import { importAndPublish, reindexTargets, startDaemon, type DaemonOptions } from '../../src/triggers/daemon.js';
import { makeConfig } from '../helpers/config.js';
import { makeDebs } from '../helpers/debs.js';
import { privateAptOptions } from '../helpers/apt.js';
import { armFifoSwap, type FifoSwap } from '../helpers/fifo-swap.js';

const repo = resolve(import.meta.dirname, '../..');
const sh = new Shell({ log: () => undefined });
const contexts: MirrorContext[] = [];
let base = '';
/** 50 real .debs (pkg0..pkg49), built once and shared: each test has its own mirror. */
let pool: string[] = [];

test.before(async () => {
  base = await mkdtemp(join(tmpdir(), 'nk-daemon-'));
  pool = makeDebs(join(base, 'pool-src'), 50);
});
let t0 = 0;
test.before.each(() => void (t0 = Date.now()));
test.after.each(() => void (process.env.NK_TIMING && console.error(`test took ${Date.now() - t0} ms`)));
test.after(async () => {
  for (const ctx of contexts) await stopGpgAgent(ctx);
  await rm(base, { recursive: true, force: true });
});

async function setup(name: string): Promise<{ config: Config; ctx: MirrorContext; archive: string }> {
  const dir = join(base, name);
  const config = makeConfig(dir, { schedule: { refresh: '17 3 1 1 *' } });
  const archive = config.mirror.archives[0]!.path;
  await mkdir(archive, { recursive: true });
  const ctx: MirrorContext = { sh, config };
  contexts.push(ctx);
  return { config, ctx, archive };
}

function daemonOptions(config: Config, lines: string[], over: Partial<DaemonOptions> = {}): DaemonOptions {
  return {
    config,
    sh,
    json: true,
    handleSignals: false,
    log: (line) => lines.push(line),
    refresh: async (signal) => {
      const ctx = { sh, config, signal };
      await importArchives(ctx, config.mirror.archives, archiveOwner);
      await publishMirror(ctx);
    },
    importAndPublish: (files, signal) => importAndPublish({ sh, config, signal }, files),
    ...over,
  };
}

async function publishedPackages(config: Config, codename = 'bookworm'): Promise<string[]> {
  const text = await readFile(join(mirrorLayout(config).dists, codename, 'main/binary-amd64/Packages'), 'utf8').catch(() => '');
  return [...text.matchAll(/^Package: (.+)$/gm)].map((m) => m[1]!).sort();
}

async function waitFor(what: string, cond: () => Promise<boolean> | boolean, timeoutMs = 60000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

const events = (lines: string[]) => lines.map((l) => JSON.parse(l) as { event: string; [k: string]: unknown });

/** `apt-get download` into a fresh dir, or with `archives`, `apt-get install --download-only` into that apt cache. */
function aptDownload(config: Config, packages: string[], archives?: string, suite = 'bookworm'): { code: number | null; out: string; files: string[] } {
  const layout = mirrorLayout(config);
  const dir = join(base, `apt-${Math.random().toString(36).slice(2)}`);
  for (const d of ['parts', 'state/lists/partial', 'cache/archives/partial', 'empty', 'out']) spawnSync('mkdir', ['-p', '--', join(dir, d)]);
  spawnSync('touch', ['--', join(dir, 'status')]);
  // file:// debs are used in place; copy:// copies them into the cache like a download.
  const sources = ['Types: deb', `URIs: ${archives ? 'copy' : 'file'}://${layout.root}`, `Suites: ${suite}`, 'Components: main', `Signed-By: ${layout.publicKeyAsc}`, ''];
  spawnSync('sh', ['-c', 'cat > "$1"', 'sh', join(dir, 'parts', 'mirror.sources')], { input: sources.join('\n') });
  const opts = privateAptOptions(dir, archives ? [`Dir::Cache::archives=${archives}`] : []);
  const run = (...args: string[]) => spawnSync('apt-get', [...opts, ...args], { cwd: join(dir, 'out'), encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
  const update = run('update');
  if (update.status !== 0) return { code: update.status, out: update.stdout + update.stderr, files: [] };
  const dl = archives ? run('install', '--download-only', '--yes', '--', ...packages) : run('download', ...packages);
  const files = spawnSync('ls', ['--', archives ?? join(dir, 'out')], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
  return { code: dl.status, out: dl.stdout + dl.stderr, files };
}

test('20 .debs copied into a watched archive are in the signed index and a real apt client downloads them', async () => {
  const { config, archive } = await setup('twenty');
  const lines: string[] = [];
  const debs = pool.slice(0, 20);
  const daemon = await startDaemon(daemonOptions(config, lines, { schedule: false }));
  try {
    for (const d of debs) await copyFile(d, join(archive, d.split('/').pop()!));
    const want = debs.map((_, i) => `pkg${i}`).sort();
    await waitFor('20 packages in the index', async () => (await publishedPackages(config)).length === 20);
    // Packages is written before InRelease is renamed into place: wait for the run to end.
    await daemon.idle();
    assert.equal(await publishedPackages(config), want);
    const apt = aptDownload(config, want);
    assert.is(apt.code, 0, apt.out);
    assert.is(apt.files.length, 20);
  } finally {
    await daemon.stop();
  }
  const ev = events(lines);
  assert.ok(ev.some((e) => e.event === 'file'), 'one line per file event');
  assert.ok(ev.some((e) => e.event === 'run-end'));
  assert.is(ev.at(-1)!.event, 'stopped');
});

test("a machine's downloads land in the mirror under its codename only when a verified index names them; planted files and symlinked caches do not", async () => {
  const { config, ctx, archive } = await setup('loop');
  // Warm's private apt lists (verified by apt against the upstream key) name pkg10 and pkg11: built with apt-ftparchive like a real Packages.
  const upstream = join(base, 'loop-upstream');
  await mkdir(upstream, { recursive: true });
  for (const d of pool.slice(10, 12)) await copyFile(d, join(upstream, d.split('/').pop()!));
  const lists = join(config.stateDir, 'mirror/warm/trixie/apt-test-recipe/state/lists');
  await mkdir(join(lists, 'partial'), { recursive: true });
  const packagesText = spawnSync('apt-ftparchive', ['packages', '.'], { cwd: upstream, encoding: 'utf8' }).stdout;
  await writeFile(join(lists, 'deb.debian.org_debian_dists_trixie_main_binary-amd64_Packages'), packagesText);
  assert.match(packagesText, /Package: pkg10/);
  for (const d of pool.slice(0, 3)) await copyFile(d, join(archive, d.split('/').pop()!));
  // The admin also files pkg3 under trixie: the mirror publishes a trixie suite too.
  const trixieArchive = join(base, 'loop', 'archives-trixie');
  await mkdir(trixieArchive, { recursive: true });
  await copyFile(pool[3]!, join(trixieArchive, 'pkg3_1.0-1_amd64.deb'));
  await importArchives(ctx, [...config.mirror.archives, { path: trixieArchive, codename: 'trixie' }], archiveOwner);
  await publishMirror(ctx);
  // A machine root as the builder leaves it: provenance (codename trixie) and apt's cache dir.
  const machine = join(config.machines.dir, 'box');
  const machineArchives = join(machine, 'var/cache/apt/archives');
  await mkdir(join(machineArchives, 'partial'), { recursive: true });
  await mkdir(join(machine, PROVENANCE, '..'), { recursive: true });
  await writeFile(join(machine, PROVENANCE), JSON.stringify({ machine: 'box', codename: 'trixie' }));
  // A second machine whose cache is a symlink to a host directory full of .debs.
  const hostPrivate = join(base, 'loop-host-private');
  await mkdir(hostPrivate, { recursive: true });
  await copyFile(pool[20]!, join(hostPrivate, 'pkg20_1.0-1_amd64.deb'));
  const evil = join(config.machines.dir, 'evil');
  await mkdir(join(evil, 'var/cache/apt'), { recursive: true });
  await symlink(hostPrivate, join(evil, 'var/cache/apt/archives'));
  await mkdir(join(evil, PROVENANCE, '..'), { recursive: true });
  await writeFile(join(evil, PROVENANCE), JSON.stringify({ machine: 'evil', codename: 'trixie' }));
  const lines: string[] = [];
  const daemon = await startDaemon(daemonOptions(config, lines, { schedule: false }));
  try {
    assert.ok(daemon.watcher!.dirs().some((d) => d.path === machineArchives && d.codename === 'trixie'));
    assert.not.ok(daemon.watcher!.dirs().some((d) => d.path.includes('loop-host-private')), 'the host directory is not watched');
    // The machine's apt: downloads from the mirror into partial/, verifies, renames into the cache.
    // The mirror's own published trixie Packages is a verified index for trixie: pkg3 is accepted.
    const own = aptDownload(config, ['pkg3'], machineArchives, 'trixie');
    assert.is(own.code, 0, own.out);
    // The bookworm suite's packages are verified for bookworm, not for trixie: a trixie machine cannot bring them into trixie.
    const apt = aptDownload(config, ['pkg0', 'pkg1'], machineArchives);
    assert.is(apt.code, 0, apt.out);
    assert.equal(apt.files.filter((f) => f.endsWith('.deb')).sort(), ['pkg0_1.0-1_amd64.deb', 'pkg1_1.0-1_amd64.deb', 'pkg3_1.0-1_amd64.deb']);
    // Named by warm's verified list: accepted. Planted by root in the container (pkg30, higher "openssh"-like): quarantined.
    await copyFile(pool[10]!, join(machineArchives, 'pkg10_1.0-1_amd64.deb'));
    await copyFile(pool[30]!, join(machineArchives, 'pkg30_1.0-1_amd64.deb'));
    await waitFor('the trixie suite', async () => (await publishedPackages(config, 'trixie')).length === 2);
    await waitFor('the quarantine', async () => {
      const text = await readFile(mirrorLayout(config).quarantine, 'utf8').catch(() => '');
      return ['pkg0', 'pkg1', 'pkg30'].every((p) => text.includes(`${p}_`));
    });
    await daemon.idle();
  } finally {
    await daemon.stop();
  }
  assert.equal(await publishedPackages(config, 'trixie'), ['pkg10', 'pkg3']);
  const quarantine = JSON.parse(await readFile(mirrorLayout(config).quarantine, 'utf8')) as { file: string; reason: string }[];
  const refusedForTrixie = 'not in any index nspawn-kit verified for trixie (machine box)';
  assert.equal(quarantine.map((q) => [q.file, q.reason]), ['pkg0', 'pkg1', 'pkg30'].map((p) => [join(machineArchives, `${p}_1.0-1_amd64.deb`), refusedForTrixie]));
  const refused = events(lines).filter((e) => e.event === 'machine-refused');
  assert.is(refused.length, 1, lines.join('\n'));
  assert.is(refused[0]!.machine, 'evil');
  assert.match(String(refused[0]!.reason), /symbolic link/);
  assert.not.ok(lines.some((l) => l.includes('pkg20')), 'nothing of the host directory was listed');
  assert.equal(await publishedPackages(config, 'bookworm'), ['pkg0', 'pkg1', 'pkg2']);
  const report = await verifyMirror(ctx);
  assert.ok(report.ok, report.problems.join('\n'));
});

test('reindex targets: files of a machine keep its name (default and explicit paths, even through a refused symlinked cache) and need a verified index', async () => {
  const { config, ctx, archive } = await setup('reindex-targets');
  await copyFile(pool[0]!, join(archive, 'pkg0_1.0-1_amd64.deb'));
  const box = join(config.machines.dir, 'box');
  await mkdir(join(box, 'var/cache/apt/archives'), { recursive: true });
  await mkdir(join(box, PROVENANCE, '..'), { recursive: true });
  await writeFile(join(box, PROVENANCE), JSON.stringify({ codename: 'trixie' }));
  await copyFile(pool[1]!, join(box, 'var/cache/apt/archives/pkg1_1.0-1_amd64.deb'));
  const hostDir = join(base, 'reindex-host');
  await mkdir(hostDir, { recursive: true });
  await copyFile(pool[2]!, join(hostDir, 'pkg2_1.0-1_amd64.deb'));
  const evil = join(config.machines.dir, 'evil');
  await mkdir(join(evil, 'var/cache/apt'), { recursive: true });
  await symlink(hostDir, join(evil, 'var/cache/apt/archives'));
  await mkdir(join(evil, PROVENANCE, '..'), { recursive: true });
  await writeFile(join(evil, PROVENANCE), JSON.stringify({ codename: 'trixie' }));

  const all = await reindexTargets(config, []);
  assert.equal(all.map((f) => [f.path, f.codename, f.machine]).sort(), [
    [join(archive, 'pkg0_1.0-1_amd64.deb'), 'bookworm', undefined],
    [join(box, 'var/cache/apt/archives/pkg1_1.0-1_amd64.deb'), 'trixie', 'box'],
  ]);
  const explicit = await reindexTargets(config, [join(evil, 'var/cache/apt/archives')], 'trixie');
  assert.equal(explicit.map((f) => f.machine), ['evil']);
  const r = await importAndPublish(ctx, [...all, ...explicit]);
  assert.equal(r.import.imported.map((i) => i.package), ['pkg0']);
  assert.equal(r.import.rejected.map((x) => x.reason).sort(), ['not in any index nspawn-kit verified for trixie (machine box)', 'not in any index nspawn-kit verified for trixie (machine evil)']);
  assert.equal(await publishedPackages(config, 'trixie'), []);
});

test('50 file events during a running refresh: no overlap, at most two runs, the final index lists every valid .deb', async () => {
  const { config, archive } = await setup('fifty');
  const lines: string[] = [];
  const debs = pool;
  await writeFile(join(archive, 'broken_1_amd64.deb'), 'garbage');
  let active = 0;
  let maxActive = 0;
  const batchedFiles = () => events(lines).reduce((n, e) => n + (e.event === 'batch' ? Number(e.files) : 0), 0);
  const track = async <T>(fn: () => Promise<T>) => {
    active += 1;
    maxActive = Math.max(maxActive, active);
    try {
      return await fn();
    } finally {
      active -= 1;
    }
  };
  const opts = daemonOptions(config, lines, { schedule: false });
  const realRefresh = opts.refresh;
  const realImport = opts.importAndPublish;
  const daemon = await startDaemon({
    ...opts,
    // The refresh lasts until every one of the 50 files has been handed over by the watcher.
    refresh: (signal) => track(async () => {
      await waitFor('50 batched files', () => batchedFiles() >= 50);
      return realRefresh(signal);
    }),
    importAndPublish: (files, signal) => track(() => realImport(files, signal)),
  });
  try {
    const refresh = daemon.trigger({ refresh: true });
    for (const d of debs) await copyFile(d, join(archive, d.split('/').pop()!));
    await refresh;
    await waitFor('every valid .deb in the index', async () => (await publishedPackages(config)).length === 50);
    await daemon.idle();
    assert.is(maxActive, 1, 'runs never overlap');
    const runs = events(lines).filter((e) => e.event === 'run-start');
    assert.ok(runs.length <= 2, `at most two runs, saw ${runs.length}`);
    assert.equal(await publishedPackages(config), debs.map((_, i) => `pkg${i}`).sort());
    assert.ok(events(lines).some((e) => e.event === 'invalid' && String(e.path).endsWith('broken_1_amd64.deb')));
  } finally {
    await daemon.stop();
  }
});

test('kill -9 of the daemon in the middle of a publish: the next start needs no clean-up and mirror verify passes', async () => {
  const { config, ctx, archive } = await setup('kill');
  // A previous publication exists.
  const first = pool.slice(0, 3);
  for (const d of first) await copyFile(d, join(archive, d.split('/').pop()!));
  await importArchives(ctx, config.mirror.archives, archiveOwner);
  await publishMirror(ctx);
  const more = pool.slice(3, 30);
  const script = join(base, 'daemon-child.mts');
  await writeFile(
    script,
    `import { startDaemon, importAndPublish } from ${JSON.stringify(join(repo, 'src/triggers/daemon.ts'))};
import { Shell } from ${JSON.stringify(join(repo, 'src/shell.ts'))};
const config = JSON.parse(process.argv[2]);
const sh = new Shell({ log: () => {} });
// Progress lines of the publisher go to stdout, so the test can kill in the middle of it.
const log = (line) => process.stdout.write('progress ' + line + '\\n');
await startDaemon({ config, sh, json: true, schedule: false, handleSignals: false, log: (l) => process.stdout.write(l + '\\n'),
  refresh: async () => {}, importAndPublish: (files, signal) => importAndPublish({ sh, config, signal, log }, files) });
`,
  );
  const child = spawn(process.execPath, ['--import', 'tsx', script, JSON.stringify(config)], { cwd: repo, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const killed = new Promise<void>((done) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (/progress indexed/.test(out) && child.exitCode === null && !child.killed) {
        child.kill('SIGKILL');
      }
    });
    child.on('exit', () => done());
  });
  await waitFor('the child daemon', () => /daemon-ready/.test(out), 30000);
  for (const d of more) await copyFile(d, join(archive, d.split('/').pop()!));
  await killed;
  const count = (re: RegExp) => (out.match(re) ?? []).length;
  assert.ok(count(/"run-start"/g) > count(/"run-end"/g), 'killed before its run ended');
  // No manual clean-up: a new daemon takes the lock and publishes everything.
  const lines: string[] = [];
  const daemon = await startDaemon(daemonOptions(config, lines, { schedule: false }));
  try {
    await waitFor('all 30 packages', async () => (await publishedPackages(config)).length === 30);
    await waitFor('the run to end', () => events(lines).some((e) => e.event === 'run-end'));
  } finally {
    await daemon.stop();
  }
  assert.not.ok(events(lines).some((e) => e.event === 'lock-wait'), 'no stale lock');
  const report = await verifyMirror(ctx);
  assert.ok(report.ok, report.problems.join('\n'));
  assert.is((await readdir(mirrorLayout(config).dists)).includes('bookworm'), true);
});

test('SIGTERM during a run: the run finishes and is published, then the daemon exits 0 by itself', async () => {
  const { config, archive } = await setup('sigterm');
  const script = join(base, 'daemon-term.mts');
  await writeFile(
    script,
    `import { runDaemon, importAndPublish } from ${JSON.stringify(join(repo, 'src/triggers/daemon.ts'))};
import { Shell } from ${JSON.stringify(join(repo, 'src/shell.ts'))};
const config = JSON.parse(process.argv[2]);
const sh = new Shell({ log: () => {} });
await runDaemon({ config, sh, json: true, log: (l) => process.stdout.write(l + '\\n'),
  refresh: async () => {},
  // Slow enough that the signal lands in the middle of the run.
  importAndPublish: async (files, signal) => { await new Promise((r) => setTimeout(r, 1500)); return importAndPublish({ sh, config, signal }, files); } });
`,
  );
  const child = spawn(process.execPath, ['--import', 'tsx', script, JSON.stringify(config)], { cwd: repo, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
  await waitFor('the child daemon', () => /daemon-ready/.test(out), 30000);
  for (const d of pool.slice(0, 5)) await copyFile(d, join(archive, d.split('/').pop()!));
  await waitFor('the run to start', () => /"run-start"/.test(out), 30000);
  child.kill('SIGTERM');
  const code = await Promise.race([exited, sleep(60000, undefined, { ref: false }).then(() => 'hung' as const)]);
  if (code === 'hung') child.kill('SIGKILL');
  assert.is(code, 0, out);
  const lines = out.trim().split('\n').map((l) => JSON.parse(l) as { event: string; files?: number });
  const order = lines.map((l) => l.event);
  assert.ok(order.indexOf('stopping') < order.indexOf('run-end'), 'the run in progress finished after the signal');
  assert.is(order.at(-1), 'stopped');
  // Exactly the run in progress was published; a follow-up is left to the next start's reconcile.
  const inProgress = lines.find((l) => l.event === 'run-start')!.files!;
  assert.ok(inProgress >= 1);
  assert.is((await publishedPackages(config)).length, inProgress);
  assert.is(order.filter((e) => e === 'run-start').length, 1, 'no run starts after the signal');
});

test('FIFOs renamed over two files between their dpkg-deb runs, and a symlink out of the archive: a .deb dropped in afterwards is still imported and published, nothing else is', async () => {
  const { config, archive } = await setup('fifo-swap');
  const lines: string[] = [];
  const swaps: FifoSwap[] = [];
  const daemon = await startDaemon(daemonOptions(config, lines, { schedule: false }));
  try {
    await symlink(pool[5]!, join(archive, 'shadow.deb'));
    for (const [i, name] of ['swapped1.deb', 'swapped2.deb'].entries()) {
      const tmp = join(archive, `.${name}.tmp`);
      await copyFile(pool[i]!, tmp);
      const swap = await armFifoSwap(tmp, join(archive, name), join(archive, `.${name}.fifo`));
      swaps.push(swap);
      await rename(tmp, join(archive, name));
      const swapped = await Promise.race([swap.swapped, sleep(15000).then(() => 'timeout')]);
      assert.is(swapped, true, `the attack happened: a FIFO replaced ${name} after its first read`);
    }
    await copyFile(pool[3]!, join(archive, 'pkg3.deb'));
    await waitFor('pkg3 in the index', async () => (await publishedPackages(config)).includes('pkg3'), 30000);
    await daemon.idle();
    await sleep(1000);
    await daemon.idle();
    assert.equal(await publishedPackages(config), ['pkg3']);
  } finally {
    await daemon.stop();
    for (const s of swaps) await s.stop();
  }
  const refused = events(lines).filter((e) => e.event === 'invalid');
  assert.equal(
    refused.map((e) => [e.path, e.reason]),
    [[join(archive, 'shadow.deb'), `symbolic link leading out of ${archive} or not to a regular file (not followed)`]],
  );
});

test.run();
