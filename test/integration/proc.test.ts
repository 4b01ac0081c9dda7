/**
 * The /proc readers (src/proc.ts) against real processes: a child started
 * after us, in a directory of its own, then killed.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kernelFilesystems, kernelLocks, parentPid, processes, processesUnder, processIsZombie, processStartTime, readMountInfo, topMountAt } from '../../src/proc.js';

const dir = realpathSync(mkdtempSync(join(tmpdir(), 'nk-proc-')));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('a child in its own directory: found under it, started after us, alive; once reaped: gone', async () => {
  const child = spawn('sleep', ['30'], { cwd: dir, stdio: 'ignore' });
  const pid = child.pid!;
  try {
    assert.equal(await processesUnder(dir), [pid]);
    assert.equal(await processesUnder(join(dir, 'elsewhere')), []);
    const ours = await processStartTime(process.pid);
    const its = await processStartTime(pid);
    assert.match(ours ?? '', /^\d+$/);
    assert.match(its ?? '', /^\d+$/);
    assert.ok(Number(its) >= Number(ours), `child ${its} >= parent ${ours} (clock ticks since boot)`);
    assert.is(await processIsZombie(pid), false);
  } finally {
    child.kill('SIGKILL');
    await once(child, 'exit');
  }
  assert.is(await processStartTime(pid), undefined);
  assert.is(await processIsZombie(pid), true, 'gone counts as dead');
  assert.equal(await processesUnder(dir), []);
});

test("processes and parentPid: a child's argv as started, its parent us; once reaped: neither", async () => {
  const child = spawn('sh', ['-c', 'sleep 30; :', 'a b'], { cwd: dir, stdio: 'ignore' });
  const pid = child.pid!;
  try {
    const mine = (await processes()).filter((p) => p.pid === pid);
    assert.equal(mine, [{ pid, argv: ['sh', '-c', 'sleep 30; :', 'a b'] }]);
    assert.is(parentPid(pid), process.pid);
    assert.is(parentPid(process.pid), process.ppid);
  } finally {
    child.kill('SIGKILL');
    await once(child, 'exit');
  }
  assert.equal((await processes()).filter((p) => p.pid === pid), []);
  assert.is(parentPid(pid), undefined);
});

test('kernelLocks lists an flock(1) holder; readMountInfo has /proc mounted as proc', async () => {
  const file = join(dir, 'lock');
  const holder = spawn('flock', ['--', file, 'sleep', '30'], { stdio: 'ignore' });
  try {
    let text = '';
    for (let i = 0; i < 50 && !new RegExp(`FLOCK +ADVISORY +WRITE +${holder.pid} `).test(text); i++) {
      await new Promise((r) => setTimeout(r, 100));
      text = kernelLocks() ?? '';
    }
    assert.match(text, new RegExp(`^\\d+: FLOCK +ADVISORY +WRITE +${holder.pid} `, 'm'));
  } finally {
    holder.kill('SIGKILL');
    await once(holder, 'exit');
  }
  assert.is(topMountAt(await readMountInfo(), '/proc')?.fsType, 'proc');
});

test('kernelFilesystems: the running kernel lists proc (we are reading it)', () => {
  assert.match(kernelFilesystems(), /^nodev\tproc$/m);
});

test.run();
