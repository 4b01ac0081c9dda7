/**
 * End to end, as root, in a temp dir: warm bookworm-minimal into a fresh
 * signed mirror (network: deb.debian.org), then SIGINT and SIGKILL during a
 * real create, create again (the rerun), provision, boot again, run apt
 * inside, list, base-cache reuse with a dead upstream, rc.local, mmdebstrap,
 * a missing package, rm, and the container task run twice with the same
 * name (the second is a no-op), and the base brought up to date when the
 * -security suite publishes a newer version of a base package (derived from
 * the cached base, not bootstrapped). One warmed mirror for all (each
 * bootstrap ~40 s).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, lstat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Shell, exists } from '../../src/shell.js';
import { resolveRecipe } from '../../src/config/recipes.js';
import type { Recipe } from '../../src/config/types.js';
import { warmRecipes } from '../../src/mirror/warm.js';
import { stopGpgAgent } from '../../src/mirror/keys.js';
import { createMachine, type CreateProgress } from '../../src/machine/create.js';
import { provisionMachine, bootUntil } from '../../src/machine/provision.js';
import { runInMachine, nspawnPids } from '../../src/machine/boot.js';
import { listMachines, removeMachine } from '../../src/machine/list.js';
import { withMachineView } from '../../src/machine/storage.js';
import { FIRSTBOOT } from '../../src/machine/paths.js';
import { BUILD_PREFIX, mountsUnder, processesUnder, sweepStaleBuilds, unmountAll } from '../../src/rootfs/builddir.js';
import { baseCacheDir, listBases } from '../../src/rootfs/base-cache.js';
import { importFiles } from '../../src/mirror/import.js';
import { publishMirror } from '../../src/mirror/publish.js';
import { machineState } from '../../src/machine/uptodate.js';
import { makeConfig } from '../helpers/config.js';
import { makeDeb } from '../helpers/debs.js';
import { zxScript } from '../helpers/zx.js';

const base = await mkdtemp(join(tmpdir(), 'nk-e2e-machine-'));
const config = makeConfig(base, {
  recipes: {
    'mm-minimal': { extends: 'bookworm-minimal', bootstrap: 'mmdebstrap' },
    broken: { extends: 'bookworm-minimal', packages: ['systemd', 'nspawn-kit-no-such-package'] },
  },
});
config.mirror.upstreams = { bookworm: 'http://deb.debian.org/debian' };
const logs: string[] = [];
const sh = new Shell({ log: (l) => logs.push(l) });
const ctx = { sh, config, log: (l: string) => logs.push(l) };
// Never /etc/systemd/nspawn in tests.
const settingsDir = join(base, 'nspawn-settings');
const minimal: Recipe = {
  ...resolveRecipe(config, 'bookworm-minimal'),
  users: [{ name: 'dev', uid: 1000, groups: [], shell: '/bin/bash', sshKeys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBq0nspawnkitTestKeyOnly dev@test'], password: { policy: 'locked' } }],
};
const BOOTED = /Reached target.*(Multi-User System|Graphical Interface)/;

async function leftoverBuilds(): Promise<string[]> {
  const out: string[] = [];
  for (const dir of [config.machines.dir, join(config.stateDir, 'base')]) {
    for (const e of await readdir(dir).catch(() => [] as string[])) if (e.startsWith(BUILD_PREFIX)) out.push(join(dir, e));
  }
  return out;
}

/** `nspawn-kit create` in a child process (an entry point of its own); resolves once debootstrap is unpacking inside its build dir. */
async function startCreate(name: string): Promise<ChildProcess> {
  const script = join(base, `create-${name}.mts`);
  await writeFile(
    script,
    `import { createMachine } from ${JSON.stringify(resolve('src/machine/create.ts'))};
import { resolveRecipe } from ${JSON.stringify(resolve('src/config/recipes.ts'))};
import { Shell } from ${JSON.stringify(resolve('src/shell.ts'))};
import { exitOnSignals } from ${JSON.stringify(resolve('src/exit-hooks.ts'))};
// As the entry points (program.ts, tasks/script.ts) do: SIGINT/SIGTERM run the exit hooks.
exitOnSignals();
const config = JSON.parse(process.argv[2]);
const recipe = resolveRecipe(config, 'bookworm-minimal');
await createMachine({ sh: new Shell({ log: () => {} }), config }, recipe, ${JSON.stringify(name)}, {
  settingsDir: ${JSON.stringify(settingsDir)},
  onProgress: (p) => process.stdout.write(JSON.stringify({ stage: p.stage, unpacked: p.counts?.unpacked ?? 0 }) + '\\n'),
});
`,
  );
  const child = spawn(process.execPath, ['--import', 'tsx', script, JSON.stringify(config)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((res, rej) => {
    let buf = '';
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const l of lines) {
        const p = JSON.parse(l) as { stage: string; unpacked: number };
        if (p.stage === 'bootstrap' && p.unpacked >= 20) res();
      }
    });
    child.on('exit', (code) => rej(new Error(`create exited (${code}) before debootstrap got going`)));
  });
  return child;
}

function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((res) => child.on('exit', (code, signal) => res({ code, signal })));
}

// Every test needs the warm from Debian's archive: without it they are skipped, visibly.
const reachable = await fetch('http://deb.debian.org/debian/dists/bookworm/InRelease', { method: 'HEAD', signal: AbortSignal.timeout(20_000) }).then(
  (r) => r.ok,
  () => false,
);
if (!reachable) console.log('  machine-lifecycle: every test skipped: http://deb.debian.org/debian is not reachable');
const t = reachable ? test : test.skip;

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const inReleaseOf = async (suite: string) => sha256(await readFile(join(config.mirror.root, 'dists', suite, 'InRelease')));
const timings: Record<string, number> = {};

/** Imports .debs into a suite of the mirror (as `mirror import` of an archive directory configured with that codename) and publishes. */
async function publishInto(suite: string, debs: string[]): Promise<void> {
  const report = await importFiles(ctx, debs.map((path) => ({ path, codename: suite })), { noCache: true, importer: 'native' });
  assert.equal(report.rejected, [], `imported into ${suite}`);
  await publishMirror(ctx);
}

test.before(async () => {
  if (!reachable) return;
  const warmed = await warmRecipes(ctx, [minimal]);
  assert.ok(warmed.published, 'warm published the mirror');
  assert.equal(minimal.suites, ['bookworm', 'bookworm-updates', 'bookworm-security']);
  // A warm that does not publish the update suites yet (before the warm of every suite): each gets
  // a placeholder package so that it is published, as an update suite with nothing for the base is.
  for (const suite of minimal.suites.slice(1)) {
    if (await exists(join(config.mirror.root, 'dists', suite, 'InRelease'))) continue;
    await publishInto(suite, [makeDeb(join(base, 'placeholders'), { name: `nk-e2e-placeholder-${suite}`, arch: 'all' })]);
  }
});

test.after(async () => {
  for (const name of ['m1', 'm2', 'm3', 'm4', 'm5', 'm6', 'r1']) {
    const root = join(config.machines.dir, name);
    for (const pid of await nspawnPids(root)) process.kill(pid, 'SIGKILL');
  }
  await sweepStaleBuilds(ctx);
  await stopGpgAgent(ctx);
  // Overlay machines stay mounted on the host: unmounted before the temp tree goes.
  await unmountAll(sh, base);
  await sh.remove(base);
});

t('SIGINT during create: the build is killed, unmounted and removed before exit 130', async () => {
  const child = await startCreate('sigint');
  const dirs = await leftoverBuilds();
  assert.is(dirs.length, 1, 'one build dir while debootstrap runs');
  const exited = exitOf(child);
  child.kill('SIGINT');
  assert.is((await exited).code, 130);
  assert.not.ok(await exists(join(config.machines.dir, 'sigint')));
  assert.equal(await leftoverBuilds(), []);
  assert.equal(await mountsUnder(base), []);
  assert.equal(await processesUnder(dirs[0] as string), [], 'debootstrap and its chrooted children are gone');
});

t('SIGKILL during create: no machine; the next command leaves no temp dir, mount or process', async () => {
  const child = await startCreate('sigkill');
  const [dir] = await leftoverBuilds();
  assert.ok(dir);
  const mountedBefore = await mountsUnder(dir);
  const exited = exitOf(child);
  child.kill('SIGKILL');
  assert.is((await exited).signal, 'SIGKILL');
  assert.not.ok(await exists(join(config.machines.dir, 'sigkill')));
  // The orphaned debootstrap may still run and hold mounts: that is what the sweep is for.
  const report = await sweepStaleBuilds(ctx);
  assert.equal(report.removed, [dir], `swept (mounted before the kill: ${mountedBefore.join(', ') || 'none'})`);
  assert.equal(await leftoverBuilds(), []);
  assert.equal(await mountsUnder(base), []);
  assert.equal(await processesUnder(dir), []);
});

t('create (the rerun after the interruptions) from the signed local mirror, then provision: the first boot succeeds', async () => {
  const seen: CreateProgress[] = [];
  const started = Date.now();
  const report = await createMachine(ctx, minimal, 'm1', { settingsDir, onProgress: (p) => seen.push(p) });
  timings.fullBase = Date.now() - started;
  assert.is(report.fromBaseCache, false);
  assert.is(report.derivedFrom, undefined, 'bootstrapped: no older base to derive from');
  const counts = seen.filter((p) => p.stage === 'bootstrap').at(-1)?.counts;
  assert.ok(counts && counts.retrieved > 50 && counts.unpacked > 50, `debootstrap progress counted: ${JSON.stringify(counts)}`);
  assert.ok(seen.some((p) => p.stage === 'packages' && (p.counts?.unpacked ?? 0) > 0), 'recipe packages installed by apt');
  const root = report.root;
  assert.not.ok(await exists(join(root, 'debootstrap')));
  assert.not.ok(await exists(join(root, 'etc/apt/sources.list')), "the bootstrap's file:// sources.list is gone");
  assert.equal((await readdir(join(root, 'var/cache/apt/archives'))).filter((f) => f.endsWith('.deb')), [], 'no .debs in the machine');
  const inRelease = createHash('sha256').update(await readFile(join(config.mirror.root, 'dists/bookworm/InRelease'))).digest('hex');
  const prov = JSON.parse(await readFile(join(root, 'var/lib/nspawn-kit/provenance.json'), 'utf8')) as Record<string, unknown>;
  assert.is(prov.inReleaseSha256, inRelease);
  // Every suite's publication the base was built from.
  assert.equal(prov.suites, {
    bookworm: inRelease,
    'bookworm-updates': await inReleaseOf('bookworm-updates'),
    'bookworm-security': await inReleaseOf('bookworm-security'),
  });
  assert.is(prov.recipe, 'bookworm-minimal');
  assert.is(prov.backend, 'debootstrap');
  assert.ok(await exists(join(settingsDir, 'm1.nspawn')));

  const result = await provisionMachine(ctx, 'm1', { timeoutMs: 300_000 });
  assert.is(result.booted, true);
  assert.equal([result.result.status, result.result.exitCode], ['success', 0], result.logTail);
  assert.is((await nspawnPids(root)).length, 0, 'the container was powered off');
  assert.not.ok(await exists(join(root, FIRSTBOOT.script)), 'the run-once script removed itself');
  // networkd is wanted by multi-user.target, resolved by sysinit.target (a link the base may already hold:
  // an overlay machine is read through a view of base and machine together, as the container sees it).
  assert.is(report.storage, 'overlay', 'machines.clone "auto" layers the machine over its base');
  const wants: string[] = [];
  await withMachineView(sh, config, 'm1', root, async (view) => {
    for (const d of (await readdir(join(view, 'etc/systemd/system'))).filter((e) => e.endsWith('.wants'))) {
      wants.push(...(await readdir(join(view, 'etc/systemd/system', d))));
    }
  });
  for (const unit of ['systemd-networkd.service', 'systemd-resolved.service']) {
    assert.ok(wants.includes(unit), `${unit} enabled (wants: ${wants.join(' ')})`);
  }
});

t('etc/shadow holds no usable password for root or the user', async () => {
  const shadow = await readFile(join(config.machines.dir, 'm1', 'etc/shadow'), 'utf8');
  const fields = new Map(shadow.trim().split('\n').map((l) => [l.split(':')[0], l.split(':')[1] ?? ''] as const));
  assert.ok(fields.has('root') && fields.has('dev'));
  for (const [user, pw] of fields) assert.match(pw, /^[!*]/, `${user} has a usable password field ${JSON.stringify(pw)}`);
});

t('a second boot does not run the first-boot script again', async () => {
  const root = join(config.machines.dir, 'm1');
  const marker = await readFile(join(root, FIRSTBOOT.marker), 'utf8');
  const log = await readFile(join(root, FIRSTBOOT.log), 'utf8');
  const boot = await bootUntil(ctx, 'm1', { untilLine: BOOTED, timeoutMs: 120_000 });
  assert.is(boot.ended, 'line', boot.console.slice(-20).join('\n'));
  assert.is(boot.exitCode, 0, 'orderly poweroff');
  assert.is(await readFile(join(root, FIRSTBOOT.marker), 'utf8'), marker);
  assert.is(await readFile(join(root, FIRSTBOOT.log), 'utf8'), log);
  const again = await provisionMachine(ctx, 'm1');
  assert.is(again.booted, false, 'provision of a provisioned machine only reports');
});

t('apt inside the machine updates from the signed local mirror, with no trusted flag anywhere', async () => {
  const root = join(config.machines.dir, 'm1');
  const dir = join(root, 'etc/apt/sources.list.d');
  for (const f of await readdir(dir)) {
    assert.not.match(await readFile(join(dir, f), 'utf8'), /trusted|allow-insecure|allow-weak/i, f);
  }
  const mirrorOnly = ['-o', 'Dir::Etc::SourceList=/etc/apt/sources.list.d/nspawn-kit-mirror.sources', '-o', 'Dir::Etc::SourceParts=/nonexistent'];
  const res = await runInMachine(ctx, 'm1', ['apt-get', ...mirrorOnly, 'update', '--error-on=any'], { stdio: 'pipe' });
  assert.is(res.exitCode, 0, res.stdout + res.stderr);
  for (const suite of minimal.suites) assert.match(res.stdout, new RegExp(`file:/var/local/nspawn-kit-mirror ${suite} InRelease`));
  // The base was built up to date: nothing to upgrade from any suite of the mirror.
  const upgrade = await runInMachine(ctx, 'm1', ['apt-get', ...mirrorOnly, '-s', 'upgrade'], { stdio: 'pipe' });
  assert.is(upgrade.exitCode, 0, upgrade.stdout + upgrade.stderr);
  assert.match(upgrade.stdout, /^0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded\.$/m, upgrade.stdout);
  const policy = await runInMachine(ctx, 'm1', ['apt-cache', ...mirrorOnly, 'policy', 'dbus'], { stdio: 'pipe' });
  assert.match(policy.stdout, /nspawn-kit-mirror/);
  const exitCode = await runInMachine(ctx, 'm1', ['sh', '-c', 'exit 7'], { stdio: 'pipe' });
  assert.is(exitCode.exitCode, 7, 'run passes the exit code through');
});

t('a second create hits the base cache and fetches nothing (upstream 127.0.0.1:9 answers nothing)', async () => {
  const dead = 'http://127.0.0.1:9/debian';
  const offline: Recipe = { ...minimal, upstream: dead, upstreams: Object.fromEntries(minimal.suites.map((s) => [s, dead])) };
  const stages = new Set<string>();
  const report = await createMachine(ctx, offline, 'm2', { settingsDir, onProgress: (p) => stages.add(p.stage) });
  assert.is(report.fromBaseCache, true);
  assert.not.ok(stages.has('bootstrap') || stages.has('packages'), [...stages].join(','));
  assert.equal(await listBases(config, 'bookworm-minimal'), [report.base.split('/').at(-1)]);
  const upstream = await readFile(join(report.root, 'etc/apt/sources.list.d/nspawn-kit-upstream.sources'), 'utf8');
  assert.match(upstream, /^URIs: http:\/\/127\.0\.0\.1:9\/debian\nSuites: bookworm bookworm-updates bookworm-security$/m);
});

t('rc.local first boot (from the same base, copied: machines.clone "copy") succeeds and runs once', async () => {
  const rc: Recipe = { ...minimal, firstboot: 'rc.local' };
  const copyCtx = { ...ctx, config: { ...config, machines: { ...config.machines, clone: 'copy' as const } } };
  const report = await createMachine(copyCtx, rc, 'm3', { settingsDir });
  assert.is(report.fromBaseCache, true, 'only firstboot changed: same base');
  assert.is(report.storage, 'copy');
  assert.ok(await exists(join(report.root, 'usr/bin/apt-get')), 'a full copy of the base');
  assert.ok(await exists(join(report.root, FIRSTBOOT.rcLocal)));
  const result = await provisionMachine(ctx, 'm3', { timeoutMs: 300_000 });
  assert.equal([result.result.status, result.booted], ['success', true], result.logTail);
  assert.not.ok(await exists(join(report.root, FIRSTBOOT.script)));
});

t('the mmdebstrap backend builds from copy:// and provisions', async () => {
  const mm = resolveRecipe(config, 'mm-minimal');
  const report = await createMachine(ctx, mm, 'm4', { settingsDir });
  assert.is(report.backend, 'mmdebstrap');
  assert.is(report.fromBaseCache, false);
  assert.ok((await lstat(join(report.base, 'bin'))).isSymbolicLink(), 'merged /usr');
  const result = await provisionMachine(ctx, 'm4', { timeoutMs: 300_000 });
  assert.is(result.result.status, 'success', result.logTail);
});

t('list shows recipe, publication, size and first-boot state', async () => {
  const machines = await listMachines(ctx);
  const byName = new Map(machines.map((m) => [m.name, m]));
  assert.equal([...byName.keys()].sort(), ['m1', 'm2', 'm3', 'm4']);
  assert.is(byName.get('m1')?.firstBoot, 'success');
  assert.is(byName.get('m2')?.firstBoot, 'pending');
  assert.is(byName.get('m2')?.fromBaseCache, true);
  assert.is(byName.get('m4')?.backend, 'mmdebstrap');
  // m1 is an overlay: only its own changes count; m3 is a full copy of the same base.
  assert.is(byName.get('m1')?.storage, 'overlay');
  assert.ok(byName.get('m1')?.base && (await exists(join(byName.get('m1')?.base ?? '', 'usr/bin/apt-get'))), 'its base is listed');
  assert.ok((byName.get('m1')?.sizeBytes ?? 0) > 0 && (byName.get('m1')?.sizeBytes ?? 0) < 50 * 1024 * 1024);
  assert.is(byName.get('m3')?.storage, 'copy');
  assert.ok((byName.get('m3')?.sizeBytes ?? 0) > 50 * 1024 * 1024);
  assert.is(byName.get('m1')?.inReleaseSha256.length, 64);
});

t('a package that does not exist fails naming it and leaves nothing behind', async () => {
  const broken = resolveRecipe(config, 'broken');
  try {
    await createMachine(ctx, broken, 'm5', { settingsDir });
    assert.unreachable('create succeeded with a missing package');
  } catch (err) {
    assert.match((err as Error).message, /Unable to locate package nspawn-kit-no-such-package/);
  }
  assert.not.ok(await exists(join(config.machines.dir, 'm5')));
  assert.not.ok(await exists(join(settingsDir, 'm5.nspawn')));
  assert.equal(await listBases(config, 'broken'), []);
  assert.equal(await leftoverBuilds(), []);
  // Only the overlay machines' own mounts (left mounted on purpose): nothing of m5.
  assert.equal((await mountsUnder(base)).sort(), ['m1', 'm2', 'm4'].map((n) => join(config.machines.dir, n)));
});

t('rm refuses a running machine, then removes root and settings file', async () => {
  let refused = '';
  await bootUntil(ctx, 'm2', {
    untilLine: BOOTED,
    timeoutMs: 120_000,
    done: async () => {
      if ((await nspawnPids(join(config.machines.dir, 'm2'))).length === 0) return false;
      await removeMachine(ctx, 'm2', { settingsDir }).catch((e: Error) => (refused = e.message));
      return true;
    },
  });
  assert.match(refused, /running/);
  assert.ok(await exists(join(config.machines.dir, 'm2', 'etc')));
  const removed = await removeMachine(ctx, 'm2', { settingsDir });
  assert.ok(removed.removed.includes(join(settingsDir, 'm2.nspawn')));
  assert.not.ok(await exists(join(config.machines.dir, 'm2')));
  assert.not.ok((await listMachines(ctx, { sizes: false })).some((m) => m.name === 'm2'));
});

t('the container task twice with the same --name: the second run skips the up-to-date machine and exits 0', async () => {
  const cfg = join(base, 'task-config.json');
  await writeFile(cfg, JSON.stringify({ stateDir: config.stateDir, mirror: { root: config.mirror.root, archives: [], upstreams: config.mirror.upstreams }, machines: config.machines }));
  const args = ['--recipe', 'bookworm-minimal', '--name', 'r1', '--config', cfg];
  const first = zxScript('tasks/container.mjs', args, { env: { NO_COLOR: '1' } });
  assert.is(first.code, 0, first.stderr + first.stdout);
  const root = join(config.machines.dir, 'r1');
  const prov = JSON.parse(await readFile(join(root, 'var/lib/nspawn-kit/provenance.json'), 'utf8')) as Record<string, unknown>;
  assert.is(typeof prov.indexDigest, 'string', 'provenance records the package set');
  assert.is(JSON.parse(await readFile(join(root, FIRSTBOOT.marker), 'utf8')).status, 'success');
  // The recipe's settings are read beside the root (settingsDir is a temp dir nspawn never reads).
  assert.ok(await exists(join(config.machines.dir, 'r1.nspawn')));

  const second = zxScript('tasks/container.mjs', args, { env: { NO_COLOR: '1' } });
  assert.is(second.code, 0, second.stderr + second.stdout);
  // The stages are listr2's lines: stderr (stdout is the summary).
  assert.match(second.stderr, /machine r1 is up to date \(built \S+ from the same recipe and package set\)/);
  assert.match(second.stderr, /SKIPPED: machine r1 is up to date/);
  assert.match(second.stderr, 'Machine: clone, first-boot injection, .nspawn, provenance [SKIPPED: machine r1 is up to date');
  assert.match(second.stderr, 'Provisioning boot (first-boot script) [SKIPPED: machine r1 is up to date');
  assert.not.match(second.stdout + second.stderr, /bootstrapped with|cp -a --reflink/);
  assert.is(await readFile(join(root, 'var/lib/nspawn-kit/provenance.json'), 'utf8'), `${JSON.stringify(prov, null, 2)}\n`, 'not rebuilt');

  // Another recipe under the taken name is refused before any work, saying what to do.
  const other = zxScript('tasks/container.mjs', ['--recipe', 'qgis', '--name', 'r1', '--config', cfg], { env: { NO_COLOR: '1' } });
  assert.is(other.code, 1, other.stderr + other.stdout);
  assert.match(other.stderr, /machine r1 already exists at \S+, but it was built from recipe bookworm-minimal/);
  assert.match(other.stderr, /nspawn-kit rm r1/);
  assert.not.match(other.stdout + other.stderr, /Cache warming:/);
});

/** Rebuilds a pool .deb with a higher version (same files and maintainer scripts: a genuine upgrade). */
function repackNewer(poolDeb: string, version: string, outDir: string): string {
  const work = join(outDir, 'tree');
  execFileSync('dpkg-deb', ['-R', '--', poolDeb, work]);
  const control = join(work, 'DEBIAN', 'control');
  execFileSync('sed', ['-i', `s/^Version: .*$/Version: ${version}/`, '--', control]);
  const out = join(outDir, `repacked_${version}.deb`);
  execFileSync('dpkg-deb', ['-Zxz', '--build', '--', work, out], { stdio: 'ignore' });
  return out;
}

t('a newer version in -security: the next create brings the cached base up to date (derived, not bootstrapped); existing machines stay current', async () => {
  const [oldName, ...others] = await listBases(config, 'bookworm-minimal');
  assert.ok(oldName && others.length === 0, 'one cached base of the recipe');
  const oldBase = join(baseCacheDir(config), oldName);
  // Only a copy of this base can hold the marker: a bootstrap never writes it.
  await writeFile(join(oldBase, 'etc/nk-e2e-old-base'), `${oldName}\n`);
  const dpkgVersion = (root: string) => execFileSync('dpkg-query', [`--admindir=${join(root, 'var/lib/dpkg')}`, '-W', '-f', '${Version}', 'hostname'], { encoding: 'utf8' });
  const oldVersion = dpkgVersion(oldBase);
  const pool = join(config.mirror.root, 'pool/main/h/hostname');
  const poolDeb = (await readdir(pool)).find((f) => f.startsWith(`hostname_${oldVersion}_`));
  assert.ok(poolDeb, `hostname ${oldVersion} in the pool`);
  const newVersion = `${oldVersion}+nk1`;
  const work = join(base, 'repack');
  await mkdir(work);
  await publishInto('bookworm-security', [repackNewer(join(pool, poolDeb), newVersion, work)]);
  const security = await inReleaseOf('bookworm-security');

  const stages = new Set<string>();
  const started = Date.now();
  const report = await createMachine(ctx, minimal, 'm6', { settingsDir, onProgress: (p) => stages.add(p.stage) });
  timings.derivedBase = Date.now() - started;
  assert.is(report.fromBaseCache, false, 'a new publication: a new base');
  assert.is(report.derivedFrom, oldName);
  assert.ok(stages.has('refresh') && stages.has('packages'), [...stages].join(','));
  assert.not.ok(stages.has('bootstrap'), `not bootstrapped: ${[...stages].join(',')}`);
  assert.is(await readFile(join(report.base, 'etc/nk-e2e-old-base'), 'utf8'), `${oldName}\n`, 'the new base is a copy of the old one');
  assert.is(dpkgVersion(report.base), newVersion, 'the base was upgraded from -security');
  assert.is(dpkgVersion(report.root), newVersion, 'the new machine has the new version');
  const baseRecord = JSON.parse(await readFile(join(report.base, 'var/lib/nspawn-kit/base.json'), 'utf8')) as Record<string, unknown>;
  assert.is(baseRecord.derivedFrom, oldName);
  assert.equal((baseRecord.suites as Record<string, string>)['bookworm-security'], security);
  const prov = JSON.parse(await readFile(join(report.root, 'var/lib/nspawn-kit/provenance.json'), 'utf8')) as { suites: Record<string, string> };
  assert.is(prov.suites['bookworm-security'], security, 'provenance names the new -security publication');
  assert.equal((await readdir(join(report.base, 'var/lib/apt/lists'))).filter((e) => !['lock', 'partial', 'auxfiles'].includes(e)), [], 'no lists left in the base');
  const mirrorOnly = ['-o', 'Dir::Etc::SourceList=/etc/apt/sources.list.d/nspawn-kit-mirror.sources', '-o', 'Dir::Etc::SourceParts=/nonexistent'];
  const upgrade = await runInMachine(ctx, 'm6', ['sh', '-c', 'apt-get "$@" -q update >/dev/null && apt-get "$@" -s upgrade', 'sh', ...mirrorOnly], { stdio: 'pipe' });
  assert.match(upgrade.stdout, /^0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded\.$/m, upgrade.stdout + upgrade.stderr);
  // m1 stands on the old base (overlay): kept; the new one is the recipe's newest.
  assert.equal(await listBases(config, 'bookworm-minimal'), [oldName, report.base.split('/').at(-1)].sort());
  // A machine built before the -security publication is the same machine with an upgrade pending, not a stale one.
  const r1 = await machineState(ctx, minimal, 'r1');
  assert.is(r1.state, 'current', JSON.stringify(r1));
  assert.is(dpkgVersion(join(config.machines.dir, 'm1')), oldVersion, 'existing machines are untouched');
  console.log(`base build times (create, bookworm-minimal): full bootstrap ${(timings.fullBase ?? 0) / 1000} s, derived from the cached base ${(timings.derivedBase ?? 0) / 1000} s`);
});

test.run();
