import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFile, mkdir, mkdtemp, open, readFile, readdir, readlink, realpath, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { inspectDeb, inspectDebs } from '../../src/mirror/deb.js';
import { PROVENANCE } from '../../src/machine/paths.js';
import { Shell } from '../../src/shell.js';
import { startArchiveWatcher, type ArchiveWatcher, type WatchEvent, type WatchedFile } from '../../src/triggers/watch.js';
import { makeDeb, makeDebs } from '../helpers/debs.js';
import { armFifoSwap, type FifoSwap } from '../helpers/fifo-swap.js';

const sh = new Shell();
const validate = async (path: string) => {
  const r = await inspectDeb(sh, path);
  return r.ok ? (true as const) : r.reason;
};
let base = '';
let fixtures = '';

test.before(async () => {
  base = await mkdtemp(join(tmpdir(), 'nk-watch-'));
  fixtures = join(base, 'fixtures');
  makeDebs(fixtures, 20);
});
test.after(async () => {
  await rm(base, { recursive: true, force: true });
});

interface Harness {
  watcher: ArchiveWatcher;
  batches: WatchedFile[][];
  events: WatchEvent[];
  handed: () => WatchedFile[];
}

const validateMany = async (paths: string[]) => (await inspectDebs(sh, paths)).map((r) => (r.ok ? (true as const) : r.reason));

async function start(dirs: { path: string; codename: string }[], machinesDir?: string, many = false): Promise<Harness> {
  const batches: WatchedFile[][] = [];
  const events: WatchEvent[] = [];
  const watcher = await startArchiveWatcher({
    archives: dirs,
    machinesDir,
    settleMs: 300,
    batchMs: 200,
    machineRescanMs: 300,
    validate,
    ...(many ? { validateMany } : {}),
    onBatch: (files) => batches.push(files),
    onEvent: (e) => events.push(e),
  });
  return { watcher, batches, events, handed: () => batches.flat() };
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 15000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

test('20 .debs copied into a watched directory are handed over; partial/, lock and other files are not', async () => {
  const dir = join(base, 'archives-20');
  await mkdir(join(dir, 'partial'), { recursive: true });
  await writeFile(join(dir, 'lock'), '');
  const h = await start([{ path: dir, codename: 'bookworm' }], undefined, true);
  try {
    const names = (await readdir(fixtures)).filter((n) => n.endsWith('.deb'));
    assert.is(names.length, 20);
    await copyFile(join(fixtures, names[0]!), join(dir, 'partial', names[0]!));
    await writeFile(join(dir, 'notes.txt'), 'not a package');
    for (const n of names) await copyFile(join(fixtures, n), join(dir, n));
    await waitFor('20 files', () => h.handed().length >= 20);
    await sleep(800);
    const handed = h.handed();
    assert.is(handed.length, 20, 'each file once');
    assert.equal(new Set(handed.map((f) => f.path)), new Set(names.map((n) => join(dir, n))));
    assert.ok(handed.every((f) => f.codename === 'bookworm'));
    assert.ok(h.batches.length < 20, 'events are batched');
  } finally {
    await h.watcher.close();
  }
});

test('a .deb written slowly (pauses over more than 5 s) is not handed over before it is complete, and is after', async () => {
  const dir = join(base, 'archives-slow');
  await mkdir(dir, { recursive: true });
  const src = makeDeb(join(base, 'slow-src'), { name: 'slowpkg', payloadBytes: 4096, salt: 'slow' });
  const bytes = await readFile(src);
  const h = await start([{ path: dir, codename: 'bookworm' }]);
  try {
    const target = join(dir, 'slowpkg_1.0-1_amd64.deb');
    const fh = await open(target, 'w');
    const chunks = 6;
    const step = Math.ceil(bytes.length / chunks);
    for (let i = 0; i < chunks; i++) {
      await fh.write(bytes.subarray(i * step, Math.min(bytes.length, (i + 1) * step)));
      await fh.sync();
      if (i < chunks - 1) {
        await sleep(1100);
        assert.is(h.handed().length, 0, `not handed over after chunk ${i + 1}/${chunks}`);
      }
    }
    await fh.close();
    await waitFor('the complete file', () => h.handed().length > 0);
    assert.equal(h.handed(), [{ path: target, codename: 'bookworm' }]);
    assert.ok(h.events.some((e) => e.event === 'invalid' && e.path === target), 'the incomplete file was seen and rejected');
  } finally {
    await h.watcher.close();
  }
});

test('files added while the watcher was down are picked up at start; garbage is reported, never handed over', async () => {
  const dir = join(base, 'archives-down');
  await mkdir(dir, { recursive: true });
  const names = (await readdir(fixtures)).filter((n) => n.endsWith('.deb')).slice(0, 3);
  await copyFile(join(fixtures, names[0]!), join(dir, names[0]!));
  let h = await start([{ path: dir, codename: 'bookworm' }]);
  await waitFor('the first file', () => h.handed().length === 1);
  await h.watcher.close();
  // Down: two packages and a garbage file arrive.
  for (const n of names.slice(1)) await copyFile(join(fixtures, n), join(dir, n));
  await writeFile(join(dir, 'garbage_1_amd64.deb'), 'this is not an ar archive');
  // Batched validation this time (what the daemon uses by default).
  h = await start([{ path: dir, codename: 'bookworm' }], undefined, true);
  try {
    await waitFor('reconcile', () => h.handed().length >= 3 && h.events.some((e) => e.event === 'invalid'));
    assert.equal(new Set(h.handed().map((f) => f.path)), new Set(names.map((n) => join(dir, n))));
    const bad = h.events.find((e) => e.event === 'invalid');
    assert.is(bad && bad.event === 'invalid' ? bad.path : '', join(dir, 'garbage_1_amd64.deb'));
  } finally {
    await h.watcher.close();
  }
});

test('hostile file names are handed over as plain paths and run nothing', async () => {
  const dir = join(base, 'archives-hostile');
  await mkdir(dir, { recursive: true });
  const src = join(fixtures, (await readdir(fixtures)).find((n) => n.endsWith('.deb'))!);
  const hostile = ['--version.deb', '$(touch pwned).deb', 'a b.deb'];
  const h = await start([{ path: dir, codename: 'bookworm' }]);
  try {
    for (const n of hostile) await copyFile(src, join(dir, n));
    await waitFor('hostile files', () => h.handed().length >= 3);
    assert.equal(new Set(h.handed().map((f) => f.path)), new Set(hostile.map((n) => join(dir, n))));
    assert.not.ok((await readdir(dir)).includes('pwned'));
    assert.not.ok((await readdir(process.cwd())).includes('pwned'));
  } finally {
    await h.watcher.close();
  }
});

async function makeMachine(machines: string, name: string, codename: string | undefined, debs: string[]): Promise<string> {
  const archives = join(machines, name, 'var', 'cache', 'apt', 'archives');
  await mkdir(join(archives, 'partial'), { recursive: true });
  for (const d of debs) await copyFile(d, join(archives, d.split('/').pop()!));
  if (codename) {
    const file = join(machines, name, PROVENANCE);
    await mkdir(join(file, '..'), { recursive: true });
    await writeFile(file, JSON.stringify({ machine: name, codename }));
  }
  return archives;
}

test('machine archives are watched under the machine codename, including machines created or removed later', async () => {
  const machines = join(base, 'machines');
  const host = join(base, 'archives-host');
  await mkdir(host, { recursive: true });
  const debs = makeDebs(join(base, 'machine-debs'), 3, 'mpkg');
  const oldArchives = await makeMachine(machines, 'old', 'trixie', [debs[0]!]);
  // A directory without provenance is not a machine nspawn-kit built.
  const foreign = await makeMachine(machines, 'foreign', undefined, [debs[1]!]);
  const h = await start([{ path: host, codename: 'bookworm' }], machines);
  try {
    await waitFor('the existing machine', () => h.handed().length >= 1);
    // Handed over with the machine's name: the importer then requires a verified index for it.
    assert.equal(h.handed(), [{ path: join(oldArchives, 'mpkg0_1.0-1_amd64.deb'), codename: 'trixie', machine: 'old' }]);
    // A machine appears: directory first, provenance written at the end of its build.
    const newArchives = await makeMachine(machines, 'fresh', undefined, []);
    await sleep(400);
    await mkdir(join(machines, 'fresh', PROVENANCE, '..'), { recursive: true });
    await writeFile(join(machines, 'fresh', PROVENANCE), JSON.stringify({ machine: 'fresh', codename: 'bookworm' }));
    await waitFor('the new machine', () => h.events.some((e) => e.event === 'machine-added' && e.machine === 'fresh'));
    // apt inside the container: download into partial/, rename when verified.
    await copyFile(debs[2]!, join(newArchives, 'partial', 'mpkg2_1.0-1_amd64.deb'));
    await rename(join(newArchives, 'partial', 'mpkg2_1.0-1_amd64.deb'), join(newArchives, 'mpkg2_1.0-1_amd64.deb'));
    await waitFor('the new machine file', () => h.handed().length >= 2);
    assert.equal(h.handed()[1], { path: join(newArchives, 'mpkg2_1.0-1_amd64.deb'), codename: 'bookworm', machine: 'fresh' });
    assert.not.ok(h.handed().some((f) => f.path.startsWith(foreign)));
    // Rebuilt under the same name: a new directory tree, watched afresh.
    const rebuilt = join(base, 'machines-tmp-fresh');
    await makeMachine(rebuilt, 'fresh', 'bookworm', []);
    await rm(join(machines, 'fresh'), { recursive: true });
    await rename(join(rebuilt, 'fresh'), join(machines, 'fresh'));
    await waitFor('the rebuilt machine', () => h.events.filter((e) => e.event === 'machine-added' && e.machine === 'fresh').length === 2);
    await copyFile(debs[1]!, join(newArchives, 'mpkg1_1.0-1_amd64.deb'));
    await waitFor('a file in the rebuilt machine', () => h.handed().some((f) => f.path === join(newArchives, 'mpkg1_1.0-1_amd64.deb')));
    await rm(join(machines, 'old'), { recursive: true });
    await waitFor('the removed machine', () => h.events.some((e) => e.event === 'machine-removed' && e.machine === 'old'));
    assert.not.ok(h.watcher.dirs().some((d) => d.path === oldArchives));
    assert.ok(h.watcher.dirs().some((d) => d.path === newArchives && d.codename === 'bookworm'));
  } finally {
    await h.watcher.close();
  }
});

test('a machine archive that is a symlink to a host directory is never watched; a symlinked .deb in a machine cache is not handed over', async () => {
  const machines = join(base, 'machines-links');
  const debs = makeDebs(join(base, 'link-debs'), 2, 'lpkg');
  // Host directory full of .debs the container must not be able to get listed, watched or imported.
  const hostPrivate = join(base, 'host-private');
  await mkdir(hostPrivate, { recursive: true });
  await copyFile(debs[0]!, join(hostPrivate, 'lpkg0_1.0-1_amd64.deb'));
  const evilArchives = await makeMachine(machines, 'evil', 'bookworm', []);
  await rm(evilArchives, { recursive: true });
  await symlink(hostPrivate, evilArchives);
  // Relative links climbing out of the root are resolved inside it too.
  const climbArchives = await makeMachine(machines, 'climb', 'bookworm', []);
  await rm(climbArchives, { recursive: true });
  await symlink('../../../../../../../../../../..' + hostPrivate, climbArchives);
  const linkedArchives = await makeMachine(machines, 'linked', 'bookworm', []);
  await symlink(debs[1]!, join(linkedArchives, 'lpkg1_1.0-1_amd64.deb'));
  const h = await start([], machines);
  try {
    await waitFor('refusals', () => h.events.filter((e) => e.event === 'machine-refused').length >= 2);
    await waitFor('the symlinked .deb reported', () => h.events.some((e) => e.event === 'invalid'));
    await sleep(1000);
    const refusals = h.events.filter((e): e is Extract<WatchEvent, { event: 'machine-refused' }> => e.event === 'machine-refused');
    assert.equal(refusals.map((e) => e.machine).sort(), ['climb', 'evil'], 'once per machine, not at every rescan');
    for (const r of refusals) assert.match(r.reason, /symbolic link; inside the machine it leads to .*machines-links\/(evil|climb)\/.*host-private, which does not exist/);
    assert.equal(h.handed(), []);
    assert.not.ok(h.watcher.dirs().some((d) => d.path.includes('host-private') || d.path === evilArchives));
    const invalid = h.events.find((e): e is Extract<WatchEvent, { event: 'invalid' }> => e.event === 'invalid');
    assert.is(invalid?.path, join(linkedArchives, 'lpkg1_1.0-1_amd64.deb'));
    assert.match(invalid?.reason ?? '', /symbolic link in the archive of machine linked/);
  } finally {
    await h.watcher.close();
  }
});


// ---- hostile admin archives: validation never reads a name twice, never follows a link out, never blocks a slot ----

const fifoSwaps: FifoSwap[] = [];
test.after.each(async () => {
  for (const s of fifoSwaps.splice(0)) await s.stop();
});

/** Drops `src` in as `name` so that the first read-only close of it renames a FIFO over the name (dpkg-deb's second open then waits forever). */
async function dropWithFifoSwap(dir: string, src: string, name: string): Promise<FifoSwap> {
  const tmp = join(dir, `.${name}.tmp`);
  await copyFile(src, tmp);
  const swap = await armFifoSwap(tmp, join(dir, name), join(dir, `.${name}.fifo`));
  fifoSwaps.push(swap);
  await rename(tmp, join(dir, name));
  return swap;
}

const within = <T>(ms: number, p: Promise<T>, what: string) =>
  Promise.race([p, sleep(ms).then(() => Promise.reject(new Error(`timed out waiting for ${what}`)))]);

test('a FIFO renamed over a file between the two dpkg-deb runs blocks nothing: both slots stay free and a later .deb is handed over', async () => {
  const dir = join(base, 'archives-fifo');
  await mkdir(dir, { recursive: true });
  const [a, b, good] = (await readdir(fixtures)).filter((n) => n.endsWith('.deb')).slice(0, 3).map((n) => join(fixtures, n));
  // The daemon's default: batched validation with real dpkg-deb, two slots.
  const h = await start([{ path: dir, codename: 'bookworm' }], undefined, true);
  try {
    for (const [src, name] of [[a!, 'swapped1.deb'], [b!, 'swapped2.deb']] as const) {
      const swap = await dropWithFifoSwap(dir, src, name);
      assert.is(await within(10000, swap.swapped, `the swap of ${name}`), true, 'the attack happened: a FIFO replaced the file after its first read');
    }
    await copyFile(good!, join(dir, 'good.deb'));
    await waitFor('the good file', () => h.handed().length >= 1);
    await sleep(800);
    assert.equal(h.handed(), [{ path: join(dir, 'good.deb'), codename: 'bookworm' }]);
  } finally {
    await h.watcher.close();
  }
});

test('a symlink leading out of a watched archive is reported once and never read; one inside it counts', async () => {
  const dir = join(base, 'archives-links');
  const outside = join(base, 'outside-links');
  await mkdir(dir, { recursive: true });
  await mkdir(outside, { recursive: true });
  const [inDir, out] = (await readdir(fixtures)).filter((n) => n.endsWith('.deb')).slice(0, 2);
  await copyFile(join(fixtures, inDir!), join(dir, 'real.deb'));
  await copyFile(join(fixtures, out!), join(outside, 'secret.deb'));
  await symlink('real.deb', join(dir, 'alias.deb'));
  await symlink(join(outside, 'secret.deb'), join(dir, 'shadow.deb'));
  await symlink('../outside-links/secret.deb', join(dir, 'shadow2.deb'));
  const opened: string[] = [];
  const batches: WatchedFile[][] = [];
  const events: WatchEvent[] = [];
  const watcher = await startArchiveWatcher({
    archives: [{ path: dir, codename: 'bookworm' }],
    settleMs: 300,
    batchMs: 200,
    reconcileMs: 300,
    validate: async (path) => {
      opened.push(await readlinkProc(path));
      return validate(path);
    },
    onBatch: (files) => batches.push(files),
    onEvent: (e) => events.push(e),
  });
  try {
    await waitFor('two files', () => batches.flat().length >= 2);
    await sleep(1500); // several reconciles
    assert.equal(new Set(batches.flat().map((f) => f.path)), new Set([join(dir, 'real.deb'), join(dir, 'alias.deb')]));
    assert.equal(opened.sort(), [join(await realpath(dir), 'real.deb'), join(await realpath(dir), 'real.deb')], 'validation read only the file inside the directory');
    const refused = events.filter((e) => e.event === 'invalid');
    const reason = `symbolic link leading out of ${dir} or not to a regular file (not followed)`;
    assert.equal(
      refused.sort((x, y) => (x.event === 'invalid' && y.event === 'invalid' ? x.path.localeCompare(y.path) : 0)),
      [
        { event: 'invalid', path: join(dir, 'shadow.deb'), reason },
        { event: 'invalid', path: join(dir, 'shadow2.deb'), reason },
      ],
      'each reported exactly once across reconciles',
    );
  } finally {
    await watcher.close();
  }
});

test('a validation that never ends is stopped at its deadline and reported; later files are still handed over', async () => {
  const dir = join(base, 'archives-deadline');
  await mkdir(dir, { recursive: true });
  const good = join(fixtures, (await readdir(fixtures)).find((n) => n.endsWith('.deb'))!);
  const signals: AbortSignal[] = [];
  const batches: WatchedFile[][] = [];
  const events: WatchEvent[] = [];
  const watcher = await startArchiveWatcher({
    archives: [{ path: dir, codename: 'bookworm' }],
    settleMs: 300,
    batchMs: 200,
    validateTimeoutMs: 500,
    // Files starting with HANG stand for a validation that never returns and ignores its signal.
    validate: async (path, signal) => {
      if ((await readFile(path, 'utf8')).startsWith('HANG')) {
        signals.push(signal!);
        return new Promise<never>(() => undefined);
      }
      return validate(path);
    },
    onBatch: (files) => batches.push(files),
    onEvent: (e) => events.push(e),
  });
  try {
    await writeFile(join(dir, 'hang1.deb'), 'HANG 1');
    await writeFile(join(dir, 'hang2.deb'), 'HANG 2');
    await waitFor('both slots taken', () => signals.length === 2);
    await copyFile(good, join(dir, 'good.deb'));
    await waitFor('the good file', () => batches.flat().length >= 1);
    await sleep(500);
    assert.equal(batches.flat(), [{ path: join(dir, 'good.deb'), codename: 'bookworm' }]);
    assert.ok(signals.every((s) => s.aborted), 'the validations were told to stop');
    const reason = 'validation did not finish within 0.5 s (stopped)';
    assert.equal(
      events.filter((e) => e.event === 'invalid').map((e) => (e.event === 'invalid' ? [e.path, e.reason] : [])).sort(),
      [
        [join(dir, 'hang1.deb'), reason],
        [join(dir, 'hang2.deb'), reason],
      ],
    );
  } finally {
    await watcher.close();
  }
});

/** What a /proc/<pid>/fd/<N> path the watcher handed over is open on (a plain path is returned as it is). */
async function readlinkProc(path: string): Promise<string> {
  return /^\/proc\/\d+\/fd\/\d+$/.test(path) ? readlink(path) : path;
}

test.run();
