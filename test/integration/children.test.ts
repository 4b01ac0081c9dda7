/**
 * The child registry (src/children.ts) with real processes: a background
 * child's whole tree is stopped (its group, a grandchild that left the group
 * with setsid, a process that ignores SIGTERM: SIGKILL after the grace
 * period); a foreground child stays in our process group and gets SIGTERM
 * alone first; a child started after closeChildren dies at birth unless it
 * is an exit hook's cleanup (whileExiting).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { liveChildren, spawnBackground, stopChildren, trackChild } from '../../src/children.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** [state, ppid, pgrp, sid] of a process, or undefined once it is gone or a zombie. */
function stat(pid: number): string[] | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return f[0] === 'Z' ? undefined : f.slice(0, 4);
  } catch {
    return undefined;
  }
}

/** Waits for a child's stdout to name `count` PIDs (one per line). */
async function pidsFrom(child: ReturnType<typeof spawn>, count: number): Promise<number[]> {
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  for (let i = 0; i < 100 && out.trim().split('\n').filter(Boolean).length < count; i++) await sleep(50);
  return out.trim().split('\n').map(Number);
}

test('a background child: own session and group; its group, a setsid grandchild and a TERM-ignoring one are all stopped', async () => {
  const script = [
    'sleep 300 & echo $!',
    // Leaves the group and the session, but stays our descendant.
    'setsid sleep 301 & echo $!',
    // Ignores SIGTERM: only SIGKILL stops it.
    "sh -c 'trap \"\" TERM; echo $$; while :; do sleep 1; done' &",
    'wait',
  ].join('\n');
  const child = spawnBackground('sh', ['-c', script], { stdio: ['ignore', 'pipe', 'ignore'] });
  const pids = await pidsFrom(child, 3);
  assert.is(pids.length, 3);
  const [st] = [stat(child.pid as number)];
  assert.ok(st);
  assert.is(Number(st[2]), child.pid, 'its own process group');
  assert.is(Number(st[3]), child.pid, 'its own session');
  assert.is(Number(stat(pids[1] as number)?.[3]), pids[1], 'the setsid grandchild left the session');
  assert.equal(liveChildren(), [{ pid: child.pid as number, kind: 'background' }]);
  const t0 = Date.now();
  const left = await stopChildren({ graceMs: 500 });
  assert.equal(left, []);
  assert.ok(Date.now() - t0 >= 500, 'the TERM-ignoring process needed the SIGKILL after the grace period');
  for (const pid of [child.pid as number, ...pids]) assert.is(stat(pid), undefined, `pid ${pid} is gone`);
  await sleep(50);
  assert.equal(liveChildren(), []);
});

test('a foreground child stays in our process group; it alone gets SIGTERM first; what it leaves when it exits is SIGKILLed', async () => {
  const child = trackChild(spawn('sh', ['-c', "trap 'echo TERM; exit 0' TERM; sleep 300 & echo $!; wait"], { stdio: ['ignore', 'pipe', 'ignore'] }), 'foreground');
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  for (let i = 0; i < 100 && !out.includes('\n'); i++) await sleep(50);
  const sleeper = Number(out.trim());
  assert.is(Number(stat(child.pid as number)?.[2]), Number(stat(process.pid)?.[2]), 'same process group as ours');
  const left = await stopChildren({ foregroundGraceMs: 400 });
  assert.equal(left, []);
  assert.match(out, 'TERM', 'the foreground child got SIGTERM');
  assert.is(stat(sleeper), undefined, 'its child, re-parented when it exited, is gone too');
});

test('after closeChildren a new background child dies at birth; an exit hook cleanup (whileExiting) may run tools', () => {
  // In a process of its own: closeChildren is for good, and the test runner loads every file into one process.
  const script = `
    const { closeChildren, spawnBackground, whileExiting } = await import(${JSON.stringify(join(ROOT, 'src', 'children.ts'))});
    closeChildren();
    const killed = spawnBackground('sleep', ['300']);
    const signal = await new Promise((r) => killed.on('exit', (_c, sig) => r(sig)));
    const allowed = await whileExiting(async () => {
      const c = spawnBackground('sh', ['-c', 'exit 7']);
      return new Promise((r) => c.on('exit', (c2) => r(c2)));
    });
    process.stdout.write(JSON.stringify({ signal, allowed }));
  `;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
  assert.is(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout), { signal: 'SIGKILL', allowed: 7 });
});

test.run();
