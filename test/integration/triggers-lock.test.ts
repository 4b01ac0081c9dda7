import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { MirrorBusyError, withMirrorLock } from '../../src/mirror/lock.js';
import { liveLockHolder, recordedLockPid } from '../../src/mirror/lock-holder.js';

const repo = resolve(import.meta.dirname, '../..');
let dir = '';

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'nk-lock-'));
});
test.after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Another process that takes the lock, says "held", and then holds it forever. */
async function startHolder(lockPath: string): Promise<ChildProcess> {
  const script = join(dir, 'holder.mts');
  await writeFile(
    script,
    `import { withMirrorLock } from ${JSON.stringify(join(repo, 'src/mirror/lock.ts'))};
await withMirrorLock(process.argv[2], async () => { process.stdout.write('held\\n'); await new Promise(() => setInterval(() => {}, 1000)); }, { wait: true });\n`,
  );
  const child = spawn(process.execPath, ['--import', 'tsx', script, lockPath], { cwd: repo, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((ok, fail) => {
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('held') && ok());
    child.on('exit', (code) => fail(new Error(`holder exited with ${code}`)));
  });
  return child;
}

test('a live holder in another process makes wait:false fail with the holder pid', async () => {
  const lock = join(dir, 'state', 'mirror', 'lock');
  const holder = await startHolder(lock);
  try {
    let ran = false;
    try {
      await withMirrorLock(lock, async () => void (ran = true), { wait: false });
      assert.unreachable('must not get the lock');
    } catch (err) {
      assert.instance(err, MirrorBusyError);
      assert.is((err as MirrorBusyError).holderPid, holder.pid);
      // The hint names the option that exists: waiting is the default, --no-wait turns it off.
      assert.match((err as MirrorBusyError).hint ?? '', /^Wait for it to finish, or run again without --no-wait to wait for it\. /);
      assert.not.match((err as MirrorBusyError).hint ?? '', /with --wait/);
    }
    assert.not.ok(ran);
  } finally {
    holder.kill('SIGKILL');
  }
});

test('kill -9 of the holder: the next acquirer gets the lock without clean-up', async () => {
  const lock = join(dir, 'lock-kill');
  const holder = await startHolder(lock);
  let waitedFor: number | undefined | 'no' = 'no';
  const acquired = withMirrorLock(lock, async () => 'mine', { wait: true, onWait: (pid) => (waitedFor = pid) });
  await sleep(200);
  holder.kill('SIGKILL');
  await new Promise((r) => holder.once('exit', r));
  assert.is(await acquired, 'mine');
  assert.is(waitedFor, holder.pid, 'it had to wait, and was told who it waited for');
  // The killed holder's PID stays in the file, but nobody holds the lock: no holder is named.
  assert.is(recordedLockPid(lock), process.pid, 'our own acquisition rewrote it');
  await writeFile(lock, `${holder.pid}\n`);
  assert.is(liveLockHolder(lock), undefined);
  // The lock file is still there (nobody cleaned up) and is free for wait:false too.
  assert.is(await withMirrorLock(lock, async () => 42, { wait: false }), 42);
});

/** A process that is gone: its PID as a stale lock file would hold it. */
async function deadPid(): Promise<number> {
  const child = spawn('true', [], { stdio: 'ignore' });
  await new Promise((r) => child.once('exit', r));
  return child.pid!;
}

/** An admin's `flock LOCK cmd` (util-linux; --no-fork: killing it releases the lock), which writes nothing into the file. */
async function startAdminFlock(lockPath: string): Promise<ChildProcess> {
  const child = spawn('flock', ['--no-fork', '--', lockPath, 'sh', '-c', 'echo locked; exec sleep 600'], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((ok, fail) => {
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('locked') && ok());
    child.on('exit', (code) => fail(new Error(`flock exited with ${code}`)));
  });
  return child;
}

async function busyError(lock: string): Promise<MirrorBusyError> {
  const err = await withMirrorLock(lock, async () => 'got it', { wait: false }).then(
    (v) => new Error(`took the lock: ${v}`),
    (e: Error) => e,
  );
  assert.instance(err, MirrorBusyError);
  return err as MirrorBusyError;
}

test('a stale PID in the lock file is never reported: the live holder (an admin\'s flock) is', async () => {
  const lock = join(dir, 'lock-stale');
  const stale = await deadPid();
  await writeFile(lock, `${stale}\n`);
  const admin = await startAdminFlock(lock);
  try {
    assert.is(recordedLockPid(lock), stale, 'the file still names the dead process');
    const err = await busyError(lock);
    assert.is(err.holderPid, admin.pid);
    assert.is(err.message, `the mirror is being written by another nspawn-kit process (pid ${admin.pid})`);
    // Waiting: told the live holder too.
    let waitedFor: number | undefined | 'no' = 'no';
    const later = withMirrorLock(lock, async () => 'mine', { wait: true, onWait: (pid) => (waitedFor = pid) });
    await sleep(200);
    assert.is(waitedFor, admin.pid);
    admin.kill('SIGTERM');
    assert.is(await later, 'mine');
  } finally {
    admin.kill('SIGKILL');
  }
});

test('a recorded PID that is alive but does not hold the lock (PID reuse) is not reported', async () => {
  const lock = join(dir, 'lock-reused');
  const unrelated = spawn('sleep', ['600'], { stdio: 'ignore' });
  await writeFile(lock, `${unrelated.pid}\n`);
  const admin = await startAdminFlock(lock);
  try {
    assert.is(liveLockHolder(lock), admin.pid);
    assert.is((await busyError(lock)).holderPid, admin.pid);
  } finally {
    admin.kill('SIGKILL');
    unrelated.kill('SIGKILL');
  }
});

test('two writers in one process never overlap; the lock is re-entrant in one call chain', async () => {
  const lock = join(dir, 'lock-inproc');
  let active = 0;
  let maxActive = 0;
  const work = async () => {
    active += 1;
    maxActive = Math.max(maxActive, active);
    // Nested: import and publish each take the lock inside a refresh.
    await withMirrorLock(lock, () => sleep(30), { wait: false });
    active -= 1;
  };
  await Promise.all([1, 2, 3].map(() => withMirrorLock(lock, work, { wait: true })));
  assert.is(maxActive, 1);
});

test('a callback scheduled while the lock was held does not inherit it after release', async () => {
  const lock = join(dir, 'lock-inherit');
  let later: Promise<string> | undefined;
  let go!: () => void;
  const gate = new Promise<void>((r) => (go = r));
  await withMirrorLock(
    lock,
    async () => {
      // Runs after the release below, in an async context created under the lock.
      later = gate.then(() => withMirrorLock(lock, async () => 'fresh', { wait: false }));
    },
    { wait: false },
  );
  const holder = await startHolder(lock);
  go();
  try {
    const result = await later!.then(
      (v) => v,
      (err: Error) => err.name,
    );
    assert.is(result, 'MirrorBusyError', 'it had to take the lock itself, and another process held it');
  } finally {
    holder.kill('SIGKILL');
  }
});

test('an error inside fn releases the lock', async () => {
  const lock = join(dir, 'lock-err');
  const failed = await withMirrorLock(lock, async () => Promise.reject(new Error('x')), { wait: false }).then(
    () => 'ok',
    (err: Error) => err.message,
  );
  assert.is(failed, 'x');
  assert.is(await withMirrorLock(lock, async () => 'again', { wait: false }), 'again');
});

test('a hostile lock path is only a path', async () => {
  const lock = join(dir, '--version $(touch pwned)');
  assert.is(await withMirrorLock(lock, async () => 'ok', { wait: false }), 'ok');
  const { readdir } = await import('node:fs/promises');
  assert.not.ok((await readdir(dir)).includes('pwned'));
});

test.run();
