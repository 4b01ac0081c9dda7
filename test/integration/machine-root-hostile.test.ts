/**
 * A container root is untrusted input (issue 11, part 4). Fake machine roots
 * are made at test time with what root inside a container could plant: FIFOs,
 * sockets, symlinks to host files, sparse 1 TiB files, provenance records that
 * are FIFOs, huge, symlinked or carry a bad codename, and a bookworm machine
 * holding a package that only a trixie index names. Real dpkg-deb,
 * apt-ftparchive, gpg and apt-get; every outcome asserted exactly: what is
 * imported and published, what is quarantined and why, what is logged (once),
 * that the other machines and the admin's archive still get in, and that
 * nothing hangs.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Shell } from '../../src/shell.js';
import type { Config } from '../../src/config/types.js';
import type { MirrorContext } from '../../src/mirror/context.js';
import { importFiles } from '../../src/mirror/import.js';
import { loadQuarantine } from '../../src/mirror/import-state.js';
import { mirrorLayout, suiteListPath } from '../../src/mirror/layout.js';
import { stopGpgAgent } from '../../src/mirror/keys.js';
import { stageDeb } from '../../src/mirror/stage.js';
import { verifyMirror } from '../../src/mirror/verify.js';
import { PROVENANCE } from '../../src/machine/paths.js';
import { importAndPublish, startDaemon } from '../../src/triggers/daemon.js';
import { startArchiveWatcher, type WatchEvent, type WatchedFile } from '../../src/triggers/watch.js';
import { privateAptOptions } from '../helpers/apt.js';
import { makeConfig } from '../helpers/config.js';
import { makeDeb } from '../helpers/debs.js';

const sh = new Shell({ log: () => {} });
const bases: string[] = [];
const servers: Server[] = [];
const contexts: MirrorContext[] = [];
const TIB = 1024 ** 4;

/** A socket file at path (kept open until the end of the file's tests). */
async function makeSocket(path: string): Promise<void> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(path, resolve));
  servers.push(server);
}

/** apt-ftparchive's Packages over repo, where `mirror warm` keeps the lists of a root fetched for `codename`. */
function verifiedList(config: Config, codename: string, repo: string): void {
  const lists = join(config.stateDir, 'mirror', 'warm', codename, 'apt-r', 'state', 'lists');
  mkdirSync(join(lists, 'partial'), { recursive: true });
  writeFileSync(join(lists, `deb.debian.org_debian_dists_${codename}_main_binary-amd64_Packages`), execFileSync('apt-ftparchive', ['packages', '.'], { cwd: repo, encoding: 'utf8' }));
}

/** A machine root nspawn-kit would have built: provenance record (unless record is false) and an apt cache. */
function machine(machines: string, name: string, record: string | false = JSON.stringify({ machine: name, codename: 'bookworm' })): string {
  const cache = join(machines, name, 'var', 'cache', 'apt', 'archives');
  mkdirSync(join(cache, 'partial'), { recursive: true });
  mkdirSync(join(machines, name, dirname(PROVENANCE)), { recursive: true });
  if (record !== false) writeFileSync(join(machines, name, PROVENANCE), record);
  return cache;
}

/** The fixture world: a bookworm list naming good/sparse/admin-listed, a trixie list naming trixonly. */
function world(name: string) {
  const base = mkdtempSync(join(tmpdir(), `nk-hostile-${name}-`));
  bases.push(base);
  const config = makeConfig(base, { schedule: { refresh: '17 3 1 1 *' }, watch: { settleMs: 100, batchMs: 100 } });
  const ctx: MirrorContext = { sh, config, log: () => {} };
  contexts.push(ctx);
  const bookworm = join(base, 'repo-bookworm');
  const trixie = join(base, 'repo-trixie');
  const debs = {
    good: makeDeb(bookworm, { name: 'good' }),
    sparse: makeDeb(bookworm, { name: 'sparse' }),
    trixonly: makeDeb(trixie, { name: 'trixonly' }),
    admin: makeDeb(config.mirror.archives[0]!.path, { name: 'admin-only' }),
  };
  verifiedList(config, 'bookworm', bookworm);
  verifiedList(config, 'trixie', trixie);
  // A host file root in a machine would like to read or publish.
  const secret = join(base, 'host-secret');
  mkdirSync(secret);
  copyFileSync(debs.good, join(secret, 'good_1.0-1_amd64.deb'));
  writeFileSync(join(secret, 'provenance.json'), JSON.stringify({ machine: 'x', codename: 'bookworm' }));
  return { base, config, ctx, layout: mirrorLayout(config), debs, secret, machines: config.machines.dir };
}

const suite = (config: Config, codename: string): string[] => {
  const p = suiteListPath(mirrorLayout(config), codename);
  return existsSync(p) ? readFileSync(p, 'utf8').split('\n').filter(Boolean) : [];
};
const poolTemps = (config: Config): string[] => {
  const pool = mirrorLayout(config).pool;
  return existsSync(pool) ? (readdirSync(pool, { recursive: true }) as string[]).filter((n) => n.endsWith('.tmp')) : [];
};

test('import: only bytes a list of the machine\'s own codename names get in; FIFOs, sockets, links, sparse files and bad values are refused, the rest imported', async () => {
  const { config, ctx, debs, secret, machines, layout } = world('import');
  const m1 = machine(machines, 'm1');
  copyFileSync(debs.good, join(m1, 'good_1.0-1_amd64.deb'));
  copyFileSync(debs.trixonly, join(m1, 'trixonly_1.0-1_amd64.deb'));
  execFileSync('truncate', ['-s', String(TIB), join(m1, 'sparse_1.0-1_amd64.deb')]);
  execFileSync('mkfifo', [join(m1, 'fifo_1.0-1_amd64.deb')]);
  await makeSocket(join(m1, 'sock_1.0-1_amd64.deb'));
  symlinkSync(join(secret, 'good_1.0-1_amd64.deb'), join(m1, 'link_1.0-1_amd64.deb'));
  const m2 = machine(machines, 'm2');
  copyFileSync(debs.good, join(m2, 'good_1.0-1_amd64.deb'));
  const m3 = machine(machines, 'm3', JSON.stringify({ codename: 'trixie' }));
  copyFileSync(debs.trixonly, join(m3, 'trixonly_1.0-1_amd64.deb'));

  const started = Date.now();
  const r = await importFiles(ctx, [
    ...readdirSync(m1).filter((n) => n.endsWith('.deb')).map((n) => ({ path: join(m1, n), codename: 'bookworm', machine: 'm1' })),
    // Values from a machine are validated like configuration: this refuses this file, not the import.
    { path: join(m2, 'good_1.0-1_amd64.deb'), codename: '../etc', machine: 'm2' },
    { path: join(m2, 'good_1.0-1_amd64.deb'), codename: 'bookworm', machine: 'm2\nforged' },
    { path: join(m3, 'trixonly_1.0-1_amd64.deb'), codename: 'trixie', machine: 'm3' },
    { path: debs.admin, codename: 'bookworm' },
  ]);
  assert.ok(Date.now() - started < 30_000, 'no hang on the FIFO, no read of the sparse file');
  assert.equal(r.imported.map((i) => `${i.codename} ${i.package} ${i.file}`).sort(), [
    `bookworm admin-only ${debs.admin}`,
    `bookworm good ${join(m1, 'good_1.0-1_amd64.deb')}`,
    `trixie trixonly ${join(m3, 'trixonly_1.0-1_amd64.deb')}`,
  ]);
  const rejected = Object.fromEntries(r.rejected.map((x) => [x.file.slice(machines.length + 1), x.reason]));
  assert.equal(rejected, {
    'm1/var/cache/apt/archives/fifo_1.0-1_amd64.deb': 'not a regular file (machine m1)',
    'm1/var/cache/apt/archives/link_1.0-1_amd64.deb': 'symbolic link in a machine archive (not followed) (machine m1)',
    'm1/var/cache/apt/archives/sock_1.0-1_amd64.deb': 'not a regular file (machine m1)',
    'm1/var/cache/apt/archives/sparse_1.0-1_amd64.deb': `${TIB} bytes, but the verified index gives ${readFileSync(debs.sparse).length}; not copied`,
    'm1/var/cache/apt/archives/trixonly_1.0-1_amd64.deb': 'not in any index nspawn-kit verified for bookworm (machine m1)',
    'm2/var/cache/apt/archives/good_1.0-1_amd64.deb': 'machine name "m2\\nforged" is not a safe name; not imported',
  });
  // The same path came twice (bad codename, then bad name): the first reason is in the report too.
  assert.ok(r.rejected.some((x) => x.reason === 'codename "../etc" of machine m2 is not a codename like "bookworm"; not imported'));
  assert.is(r.rejected.length, 7);
  assert.equal(suite(config, 'bookworm'), ['pool/main/a/admin-only/admin-only_1.0-1_amd64.deb', 'pool/main/g/good/good_1.0-1_amd64.deb']);
  assert.equal(suite(config, 'trixie'), ['pool/main/t/trixonly/trixonly_1.0-1_amd64.deb']);
  assert.equal(poolTemps(config), []);
  assert.equal((await loadQuarantine(layout)).map((q) => q.file).sort(), [...new Set(r.rejected.map((x) => x.file))].sort());

  // The trixie package is in the pool now; a bookworm machine still cannot bring it into bookworm.
  const again = await importFiles(ctx, [{ path: join(m1, 'trixonly_1.0-1_amd64.deb'), codename: 'bookworm', machine: 'm1' }]);
  assert.equal(again.rejected.map((x) => x.reason), ['not in any index nspawn-kit verified for bookworm (machine m1)']);
  assert.equal(suite(config, 'bookworm').length, 2);
});

test('stageDeb: a FIFO and a socket are refused on the open descriptor without blocking; a wrong size copies nothing', async () => {
  const { base, layout, debs } = world('stage');
  const dir = join(base, 'm');
  mkdirSync(dir);
  execFileSync('mkfifo', [join(dir, 'fifo.deb')]);
  await makeSocket(join(dir, 'sock.deb'));
  execFileSync('truncate', ['-s', String(TIB), join(dir, 'sparse.deb')]);
  const size = readFileSync(debs.good).length;
  assert.equal(await stageDeb(layout, join(dir, 'fifo.deb'), { realDir: dir, expectedSizes: [size] }), { ok: false, reason: 'not a regular file' });
  assert.equal(await stageDeb(layout, join(dir, 'sock.deb'), { realDir: dir }), { ok: false, reason: 'not a regular file (a socket or a FIFO without a writer)' });
  assert.equal(await stageDeb(layout, join(dir, 'sparse.deb'), { realDir: dir, expectedSizes: [size] }), { ok: false, reason: `${TIB} bytes, but the verified index gives ${size}; not copied` });
  symlinkSync(debs.good, join(dir, 'link.deb'));
  assert.equal(await stageDeb(layout, join(dir, 'link.deb'), { realDir: dir }), { ok: false, reason: 'symbolic link where a regular file was listed (not followed)' });
  const ok = await stageDeb(layout, debs.good, { realDir: dirname(debs.good), expectedSizes: [size] });
  assert.ok(ok.ok && ok.staged.size === size, JSON.stringify(ok));
  if (ok.ok) rmSync(ok.staged.tmp);
  assert.equal(readdirSync(layout.pool), []);
});

test('a dry run reads a machine file only through a private copy outside the mirror, and changes nothing', async () => {
  const { config, debs, machines } = world('dry');
  const m1 = machine(machines, 'm1');
  copyFileSync(debs.good, join(m1, 'good_1.0-1_amd64.deb'));
  execFileSync('mkfifo', [join(m1, 'trixonly_1.0-1_amd64.deb')]);
  const printed: string[] = [];
  const dry: MirrorContext = { sh: new Shell({ dryRun: true, log: (l) => printed.push(l) }), config, log: () => {} };
  const before = readdirSync(tmpdir()).filter((n) => n.startsWith('nk-dry-stage-')).length;
  const r = await importFiles(dry, ['good', 'trixonly'].map((n) => ({ path: join(m1, `${n}_1.0-1_amd64.deb`), codename: 'bookworm', machine: 'm1' })));
  assert.equal(r.imported.map((i) => i.package), ['good']);
  assert.equal(r.rejected.map((x) => x.reason), ['not a regular file (machine m1)']);
  assert.ok(printed.some((l) => l.includes('install -D -m 0644 -T --') && l.includes('nk-dry-stage-') && l.includes('pool/main/g/good/good_1.0-1_amd64.deb')), printed.join('\n'));
  assert.not.ok(existsSync(config.mirror.root), 'nothing written into the mirror');
  assert.is(readdirSync(tmpdir()).filter((n) => n.startsWith('nk-dry-stage-')).length, before, 'the private copy is gone');
});

/** Machines whose records are hostile, each refused for its own reason; "good" and "trixie" are fine. */
function hostileMachines(w: ReturnType<typeof world>): { good: string } {
  const { machines, secret, debs } = w;
  const good = machine(machines, 'good');
  copyFileSync(debs.good, join(good, 'good_1.0-1_amd64.deb'));
  copyFileSync(debs.trixonly, join(good, 'trixonly_1.0-1_amd64.deb'));
  execFileSync('mkfifo', [join(good, 'fifo_1.0-1_amd64.deb')]);
  symlinkSync(join(secret, 'good_1.0-1_amd64.deb'), join(good, 'link_1.0-1_amd64.deb'));
  machine(machines, 'fifo-record', false);
  execFileSync('mkfifo', [join(machines, 'fifo-record', PROVENANCE)]);
  machine(machines, 'huge-record', false);
  execFileSync('truncate', ['-s', '1G', join(machines, 'huge-record', PROVENANCE)]);
  machine(machines, 'bad-codename', JSON.stringify({ codename: 'bookworm\nforged' }));
  machine(machines, 'link-record', false);
  symlinkSync(join(secret, 'provenance.json'), join(machines, 'link-record', PROVENANCE));
  machine(machines, 'link-dir', false);
  rmSync(join(machines, 'link-dir', dirname(PROVENANCE)), { recursive: true });
  symlinkSync(secret, join(machines, 'link-dir', dirname(PROVENANCE)));
  machine(machines, 'bad name');
  return { good };
}

const REFUSALS: Record<string, RegExp> = {
  'fifo-record': /^\/var\/lib\/nspawn-kit\/provenance\.json is a FIFO; not read$/,
  'huge-record': /^\/var\/lib\/nspawn-kit\/provenance\.json has 1073741824 bytes, more than the 65536 a record may have; not read$/,
  'bad-codename': /^\/var\/lib\/nspawn-kit\/provenance\.json gives the codename "bookworm\\nforged", not a codename like "bookworm"$/,
  'link-record': /^\/var\/lib\/nspawn-kit\/provenance\.json is a symbolic link; not followed$/,
  'link-dir': /^\/var\/lib\/nspawn-kit\/provenance\.json: .*\/link-dir\/var\/lib\/nspawn-kit is a symbolic link; not followed$/,
  '"bad name"': /^not a safe machine name/,
};

test('watcher: each hostile machine is refused once with its reason, each special file reported once, over many rescans; the good machine and the admin archive are handed over', async () => {
  const w = world('watch');
  const { good } = hostileMachines(w);
  const events: WatchEvent[] = [];
  const handed: WatchedFile[] = [];
  const watcher = await startArchiveWatcher({
    archives: w.config.mirror.archives,
    machinesDir: w.machines,
    settleMs: 100,
    batchMs: 100,
    machineRescanMs: 100,
    validate: async () => true,
    onBatch: (files) => handed.push(...files),
    onEvent: (e) => events.push(e),
  });
  try {
    // Twenty rescans or so: a refusal or a special file must not be reported again.
    await sleep(2500);
  } finally {
    await watcher.close();
  }
  const refused = events.filter((e): e is Extract<WatchEvent, { event: 'machine-refused' }> => e.event === 'machine-refused');
  assert.equal(refused.map((e) => e.machine).sort(), Object.keys(REFUSALS).sort(), 'each bad machine once');
  for (const e of refused) assert.match(e.reason, REFUSALS[e.machine]!, e.machine);
  const invalid = events.filter((e): e is Extract<WatchEvent, { event: 'invalid' }> => e.event === 'invalid');
  assert.equal(invalid.map((e) => `${e.path.slice(good.length + 1)}: ${e.reason}`).sort(), [
    'fifo_1.0-1_amd64.deb: FIFO in the archive of machine good (not opened)',
    'link_1.0-1_amd64.deb: symbolic link in the archive of machine good (not followed)',
  ]);
  assert.equal(events.filter((e) => e.event === 'machine-added').map((e) => (e as { machine: string }).machine), ['good']);
  assert.equal(handed.map((f) => `${f.codename} ${f.machine ?? '-'} ${f.path}`).sort(), [
    `bookworm - ${w.debs.admin}`,
    `bookworm good ${join(good, 'good_1.0-1_amd64.deb')}`,
    `bookworm good ${join(good, 'trixonly_1.0-1_amd64.deb')}`,
  ]);
});

/** apt-get update against the mirror with Signed-By, in a private root. */
function aptUpdate(config: Config, dir: string): { code: number | null; out: string } {
  const layout = mirrorLayout(config);
  for (const d of ['parts', 'state/lists/partial', 'cache/archives/partial', 'empty']) mkdirSync(join(dir, d), { recursive: true });
  writeFileSync(join(dir, 'status'), '');
  writeFileSync(join(dir, 'parts', 'mirror.sources'), ['Types: deb', `URIs: file://${layout.root}`, 'Suites: bookworm', 'Components: main', `Signed-By: ${layout.publicKeyAsc}`, ''].join('\n'));
  const run = spawnSync('apt-get', [...privateAptOptions(dir), 'update'], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
  return { code: run.status, out: run.stdout + run.stderr };
}

const published = (config: Config): string[] => {
  const file = join(mirrorLayout(config).dists, 'bookworm', 'main/binary-amd64/Packages');
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  return [...text.matchAll(/^Package: (.+)$/gm)].map((m) => m[1]!).sort();
};

test('daemon: hostile machines never stop the closed loop; the signed index holds exactly the admin file and the verified machine file; a restart brings no failure back', async () => {
  const w = world('daemon');
  const { good } = hostileMachines(w);
  const runDaemon = async (done: (lines: string[]) => boolean): Promise<{ event: string; [k: string]: unknown }[]> => {
    const lines: string[] = [];
    const daemon = await startDaemon({
      config: w.config,
      sh,
      json: true,
      handleSignals: false,
      schedule: false,
      log: (line) => lines.push(line),
      refresh: async () => undefined,
      importAndPublish: (files, signal) => importAndPublish({ sh, config: w.config, signal }, files),
    });
    try {
      const end = Date.now() + 60_000;
      while (!done(lines)) {
        if (Date.now() > end) throw new Error(`no run ended:\n${lines.join('\n')}`);
        await sleep(100);
      }
      await daemon.idle();
    } finally {
      await daemon.stop();
    }
    return lines.map((l) => JSON.parse(l) as { event: string; [k: string]: unknown });
  };

  const ended = (lines: string[]) => lines.some((l) => l.includes('"run-end"') || l.includes('"run-failed"'));
  const first = await runDaemon((lines) => ended(lines) && existsSync(join(w.layout.dists, 'bookworm', 'InRelease')) && published(w.config).includes('good'));
  assert.equal(first.filter((e) => e.event === 'run-failed'), []);
  assert.equal(published(w.config), ['admin-only', 'good']);
  assert.equal((await verifyMirror(w.ctx)).problems, []);
  const apt = aptUpdate(w.config, join(w.base, 'apt'));
  assert.is(apt.code, 0, apt.out);
  assert.not.match(apt.out, /^(W|E):/m);
  const quarantined = (await loadQuarantine(w.layout)).map((q) => `${q.file.slice(good.length + 1)}: ${q.reason}`);
  assert.equal(quarantined, ['trixonly_1.0-1_amd64.deb: not in any index nspawn-kit verified for bookworm (machine good)']);
  const refusedOnce = (events: typeof first) => events.filter((e) => e.event === 'machine-refused').map((e) => e.machine as string).sort();
  assert.equal(refusedOnce(first), Object.keys(REFUSALS).sort());

  // A restart: the same refusals once each, no failed run, the publication unchanged.
  const inRelease = readFileSync(join(w.layout.dists, 'bookworm', 'InRelease'));
  const second = await runDaemon(ended);
  assert.equal(second.filter((e) => e.event === 'run-failed'), []);
  assert.equal(refusedOnce(second), Object.keys(REFUSALS).sort());
  assert.equal(published(w.config), ['admin-only', 'good']);
  assert.ok(readFileSync(join(w.layout.dists, 'bookworm', 'InRelease')).equals(inRelease), 'nothing new to publish');
  assert.equal(poolTemps(w.config), []);
});

test.after(async () => {
  for (const s of servers) s.close();
  for (const ctx of contexts) await stopGpgAgent(ctx).catch(() => undefined);
  for (const b of bases) rmSync(b, { recursive: true, force: true });
});

test.run();
