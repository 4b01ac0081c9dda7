/**
 * SIGINT and SIGKILL in the middle of a real create (debootstrap running,
 * its /proc and /sys mounted in the build dir): no machine directory, and
 * after the next command no temp dir, no mount and no stray process under
 * machines.dir or stateDir; a rerun then succeeds.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Shell, exists } from '../../src/shell.js';
import { resolveRecipe } from '../../src/config/recipes.js';
import { warmRecipes } from '../../src/mirror/warm.js';
import { stopGpgAgent } from '../../src/mirror/keys.js';
import { createMachine } from '../../src/machine/create.js';
import { BUILD_PREFIX, mountsUnder, processesUnder, sweepStaleBuilds } from '../../src/rootfs/builddir.js';
import { makeConfig } from '../helpers/config.js';

const base = await mkdtemp(join(tmpdir(), 'nk-e2e-interrupt-'));
const config = makeConfig(base);
config.mirror.upstreams = { bookworm: 'http://deb.debian.org/debian' };
const sh = new Shell({ log: () => {} });
const ctx = { sh, config };
const recipe = resolveRecipe(config, 'bookworm-minimal');
const settingsDir = join(base, 'nspawn-settings');

async function buildDirs(): Promise<string[]> {
  const out: string[] = [];
  for (const dir of [config.machines.dir, join(config.stateDir, 'base')]) {
    for (const e of await readdir(dir).catch(() => [] as string[])) if (e.startsWith(BUILD_PREFIX)) out.push(join(dir, e));
  }
  return out;
}

/** `nspawn-kit create` in a child process; resolves once debootstrap is unpacking inside its build dir. */
async function startCreate(name: string): Promise<ChildProcess> {
  const script = join(base, `create-${name}.mts`);
  await writeFile(
    script,
    `import { createMachine } from ${JSON.stringify(resolve('src/machine/create.ts'))};
import { resolveRecipe } from ${JSON.stringify(resolve('src/config/recipes.ts'))};
import { Shell } from ${JSON.stringify(resolve('src/shell.ts'))};
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

test.before(async () => {
  await warmRecipes({ ...ctx, log: () => {} }, [recipe]);
});

test.after(async () => {
  await sweepStaleBuilds(ctx);
  await stopGpgAgent(ctx);
  await sh.remove(base);
});

test('SIGINT during create: the build is killed, unmounted and removed before exit 130', async () => {
  const child = await startCreate('sigint');
  const dirs = await buildDirs();
  assert.is(dirs.length, 1, 'one build dir while debootstrap runs');
  const exited = exitOf(child);
  child.kill('SIGINT');
  assert.is((await exited).code, 130);
  assert.not.ok(await exists(join(config.machines.dir, 'sigint')));
  assert.equal(await buildDirs(), []);
  assert.equal(await mountsUnder(base), []);
  assert.equal(await processesUnder(dirs[0] as string), [], 'debootstrap and its chrooted children are gone');
});

test('SIGKILL during create: no machine; the next command leaves no temp dir, mount or process', async () => {
  const child = await startCreate('sigkill');
  const [dir] = await buildDirs();
  assert.ok(dir);
  const mountedBefore = await mountsUnder(dir);
  const exited = exitOf(child);
  child.kill('SIGKILL');
  assert.is((await exited).signal, 'SIGKILL');
  assert.not.ok(await exists(join(config.machines.dir, 'sigkill')));
  // The orphaned debootstrap may still run and hold mounts: that is what the sweep is for.
  const report = await sweepStaleBuilds(ctx);
  assert.equal(report.removed, [dir], `swept (mounted before the kill: ${mountedBefore.join(', ') || 'none'})`);
  assert.equal(await buildDirs(), []);
  assert.equal(await mountsUnder(base), []);
  assert.equal(await processesUnder(dir), []);
});

test('a rerun after the interruptions succeeds', async () => {
  const report = await createMachine(ctx, recipe, 'again', { settingsDir });
  assert.is(report.fromBaseCache, false);
  assert.ok(await exists(join(report.root, 'etc/os-release')));
  assert.equal(await buildDirs(), []);
});

test.run();
