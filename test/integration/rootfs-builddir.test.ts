import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, mkdir, readdir, rm, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Shell, exists } from '../../src/shell.js';
import { OperationError } from '../../src/errors.js';
import { exitHooks } from '../../src/exit-hooks.js';
import {
  BUILD_PREFIX,
  mountsUnder,
  openBuildDir,
  parseMountsUnder,
  processesUnder,
  sweepStaleBuilds,
  withBuildDir,
} from '../../src/rootfs/builddir.js';
import { makeConfig } from '../helpers/config.js';

const isRoot = process.getuid?.() === 0;
const sh = new Shell();
const builddirModule = resolve('src/rootfs/builddir.ts');

async function tempBase(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'nk-builddir-'));
}

async function fakeRootfs(root: string): Promise<void> {
  await mkdir(join(root, 'etc'), { recursive: true });
  await writeFile(join(root, 'etc', 'os-release'), 'ID=debian\n');
}

async function leftovers(parent: string): Promise<string[]> {
  return (await readdir(parent)).filter((e) => e.startsWith(BUILD_PREFIX));
}

test('parseMountsUnder: decodes escapes, keeps only dir and below, deepest first', () => {
  const info = [
    '22 1 0:21 / /proc rw - proc proc rw',
    '90 22 0:50 / /m/.b/root rw - tmpfs t rw',
    '91 90 0:51 / /m/.b/root/proc rw - proc proc rw',
    '92 90 0:52 / /m/.b/root/dev/pts rw - devpts d rw',
    '93 1 0:53 / /m/.b/root\\040x rw - tmpfs t rw',
    '94 1 0:54 / /m/.bx rw - tmpfs t rw',
  ].join('\n');
  assert.equal(parseMountsUnder(info, '/m/.b'), ['/m/.b/root/dev/pts', '/m/.b/root/proc', '/m/.b/root x', '/m/.b/root']);
});

test('commit renames a complete root into place and leaves no build dir', async () => {
  const base = await tempBase();
  try {
    const target = join(base, 'machines', 'web');
    await withBuildDir(sh, { parent: join(base, 'machines'), label: 'web', target }, async (b) => {
      await fakeRootfs(b.root);
      await b.commit();
    });
    assert.ok(await exists(join(target, 'etc', 'os-release')));
    assert.equal(await leftovers(join(base, 'machines')), []);
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});

test('commit refuses a root with a leftover debootstrap/ dir, and an existing target', async () => {
  const base = await tempBase();
  try {
    const parent = join(base, 'machines');
    const target = join(parent, 'web');
    try {
      await withBuildDir(sh, { parent, label: 'web', target }, async (b) => {
        await fakeRootfs(b.root);
        await mkdir(join(b.root, 'debootstrap'));
        await b.commit();
      });
      assert.unreachable('half-bootstrapped root committed');
    } catch (err) {
      assert.instance(err, OperationError);
      assert.match((err as Error).message, /debootstrap/);
    }
    assert.not.ok(await exists(target));
    await mkdir(target);
    await writeFile(join(target, 'keep'), 'x');
    try {
      await withBuildDir(sh, { parent, label: 'web', target }, async (b) => {
        await fakeRootfs(b.root);
        await b.commit();
      });
      assert.unreachable('existing target overwritten');
    } catch (err) {
      assert.match((err as Error).message, /already exists/);
    }
    assert.is(await readFile(join(target, 'keep'), 'utf8'), 'x');
    assert.equal(await leftovers(parent), []);
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});

test('a failed build unmounts its bind mounts (deepest first) and removes everything', async () => {
  if (!isRoot) return console.log('  (skipped: mount needs root)');
  const base = await tempBase();
  const outside = join(base, 'outside');
  await mkdir(outside);
  await writeFile(join(outside, 'precious'), 'do not delete');
  try {
    const parent = join(base, 'machines');
    let buildDir = '';
    try {
      await withBuildDir(sh, { parent, label: 'x', target: join(parent, 'x') }, async (b) => {
        buildDir = b.dir;
        await mkdir(join(b.root, 'mnt', 'inner'), { recursive: true });
        await sh.write(['mount', ['--bind', '--', outside, join(b.root, 'mnt')]]);
        await sh.write(['mount', ['-t', 'tmpfs', 'nk-test', join(b.root, 'mnt')]]);
        assert.equal(await mountsUnder(b.dir), [join(b.root, "mnt")]); // two mounts stacked on one point
        throw new Error('bootstrap failed');
      });
    } catch (err) {
      assert.is((err as Error).message, 'bootstrap failed');
    }
    assert.not.ok(await exists(buildDir));
    assert.equal(await mountsUnder(base), []);
    // --one-file-system: the bind-mounted host directory was unmounted, never emptied.
    assert.is(await readFile(join(outside, 'precious'), 'utf8'), 'do not delete');
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});

/**
 * A child process that opens a build dir, mounts into it, starts a process
 * inside it, then waits. It installs the signal handling as the entry points
 * (program.ts, tasks/script.ts) do: exitOnSignals().
 */
async function startBuilder(base: string): Promise<{ child: ChildProcess; dir: string; sleeper: number }> {
  const script = join(base, 'builder.mts');
  await writeFile(
    script,
    `import { openBuildDir } from ${JSON.stringify(builddirModule)};
import { exitOnSignals } from ${JSON.stringify(resolve('src/exit-hooks.ts'))};
import { Shell } from ${JSON.stringify(resolve('src/shell.ts'))};
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
exitOnSignals();
const sh = new Shell();
const parent = process.argv[2];
const b = await openBuildDir(sh, { parent, label: 'victim', target: parent + '/victim' });
mkdirSync(b.root + '/proc', { recursive: true });
if (process.getuid() === 0) await sh.write(['mount', ['-t', 'proc', 'proc', b.root + '/proc']]);
// stands in for debootstrap's chrooted dpkg: keeps running after its parent dies
const sleeper = spawn('sleep', ['300'], { cwd: b.root, detached: true, stdio: 'ignore' });
sleeper.unref();
process.stdout.write(JSON.stringify({ dir: b.dir, sleeper: sleeper.pid }) + '\\n');
setInterval(() => {}, 1000);
`,
  );
  const child = spawn(process.execPath, ['--import', 'tsx', script, join(base, 'machines')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((res, rej) => {
    let buf = '';
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('\n')) res(buf.split('\n')[0] as string);
    });
    child.on('exit', (code) => rej(new Error(`builder exited early with ${code}`)));
  });
  const info = JSON.parse(line) as { dir: string; sleeper: number };
  return { child, dir: info.dir, sleeper: info.sleeper };
}

function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((res) => child.on('exit', (code, signal) => res({ code, signal })));
}

test('SIGKILL mid-build leaves a build dir; sweepStaleBuilds kills, unmounts and removes it', async () => {
  const base = await tempBase();
  try {
    const config = makeConfig(base);
    const { child, dir, sleeper } = await startBuilder(base);
    // A live owner's build is left alone.
    const early = await sweepStaleBuilds({ sh, config });
    assert.equal(early.inUse, [dir]);
    assert.ok(await exists(dir));
    const exited = exitOf(child);
    child.kill('SIGKILL');
    await exited;
    assert.ok(await exists(dir), 'SIGKILL cannot clean up by itself');
    assert.ok((await processesUnder(dir)).includes(sleeper));
    const report = await sweepStaleBuilds({ sh, config });
    assert.equal(report.removed, [dir]);
    assert.equal(await leftovers(config.machines.dir), []);
    assert.equal(await mountsUnder(base), []);
    assert.equal(await processesUnder(dir), []);
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});

test('SIGINT and SIGTERM: the handler cleans up and exits 130 / 143', async () => {
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    const base = await tempBase();
    try {
      const { child, dir, sleeper } = await startBuilder(base);
      const exited = exitOf(child);
      child.kill(signal);
      const result = await exited;
      assert.is(result.code, code, `${signal} exit code`);
      assert.not.ok(await exists(dir), `${signal} left ${dir}`);
      assert.equal(await leftovers(join(base, 'machines')), []);
      assert.equal(await mountsUnder(base), []);
      assert.not.ok((await processesUnder(dir)).includes(sleeper));
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  }
});

test('a build dir registers its removal as an exit hook and installs no signal handler itself', async () => {
  const base = await tempBase();
  const before = [process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')];
  const hooksBefore = exitHooks.size;
  try {
    const b = await openBuildDir(sh, { parent: join(base, 'machines'), label: 'h', target: join(base, 'machines', 'h') });
    assert.is(exitHooks.size, hooksBefore + 1);
    assert.is(exitHooks.describe(), 'removing unfinished builds');
    assert.equal([process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')], before);
    // What an entry point's SIGINT handler does: interrupt (the build's signal aborts), then clean up.
    await exitHooks.runAll(new Error('interrupted by SIGINT'), (line) => assert.unreachable(line));
    assert.ok(b.signal.aborted);
    assert.is((b.signal.reason as Error).message, 'interrupted by SIGINT');
    assert.not.ok(await exists(b.dir));
    assert.is(exitHooks.size, hooksBefore, 'the hook unregisters itself once the dir is gone');
    await b.discard();
    const c = await openBuildDir(sh, { parent: join(base, 'machines'), label: 'c', target: join(base, 'machines', 'c') });
    await fakeRootfs(c.root);
    await c.commit();
    assert.is(exitHooks.size, hooksBefore, 'a committed build leaves no hook behind');
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});

test('openBuildDir in dry-run creates nothing', async () => {
  const base = await tempBase();
  try {
    const dry = new Shell({ dryRun: true, log: () => {} });
    const b = await openBuildDir(dry, { parent: join(base, 'machines'), label: 'd', target: join(base, 'machines', 'd') });
    await b.discard();
    assert.not.ok(await exists(join(base, 'machines')));
    assert.ok(dry.planned.some((l) => l.includes(BUILD_PREFIX)));
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});

test.run();
