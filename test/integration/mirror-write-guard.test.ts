import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { MirrorBusyError } from '../../src/mirror/lock.js';
import { withMirrorWrite } from '../../src/mirror/write-guard.js';
import { Shell } from '../../src/shell.js';
import { makeConfig } from '../helpers/config.js';
import { cliMirror } from '../helpers/mirror-cli.js';

const base = mkdtempSync(join(tmpdir(), 'nk-write-guard-'));
const config = makeConfig(base);
const lock = join(base, 'state', 'mirror', 'lock');
const gnupg = join(base, 'state', 'gnupg');
const lines: string[] = [];
const ctx = { sh: new Shell(), config, log: (l: string) => lines.push(l) };
const children: ChildProcess[] = [];

test.after(() => {
  for (const c of children) c.kill('SIGKILL');
  spawnSync('gpgconf', ['--homedir', gnupg, '--kill', 'all']);
  rmSync(base, { recursive: true, force: true });
});

/** Another process holding the lock file (util-linux flock, --no-fork: killing it releases the lock). */
async function holdLock(path: string): Promise<ChildProcess> {
  const child = spawn('flock', ['--no-fork', '--', path, 'sh', '-c', 'echo locked; exec sleep 600'], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  await new Promise<void>((ok, fail) => {
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('locked') && ok());
    child.on('exit', (code) => fail(new Error(`flock exited with ${code}`)));
  });
  return child;
}

/** Whether a gpg-agent answers on the homedir's socket with its PID (never starts one; gpgconf --kill waits for it to go). */
function agentRunning(): boolean {
  const r = spawnSync('gpg-connect-agent', ['--homedir', gnupg, '--no-autostart', 'GETINFO pid', '/bye'], { encoding: 'utf8' });
  return /^D [0-9]+$/m.test(r.stdout);
}

function startAgent(): void {
  mkdirSync(gnupg, { recursive: true, mode: 0o700 });
  assert.is(spawnSync('gpg-connect-agent', ['--homedir', gnupg, '/bye'], { stdio: 'ignore' }).status, 0);
  assert.ok(agentRunning(), 'the agent started');
}

test('a dry run takes no lock, creates no lock file and runs even while another process writes', async () => {
  const dry = { ...ctx, sh: new Shell({ dryRun: true }) };
  assert.is(await withMirrorWrite(dry, async () => 'planned'), 'planned');
  assert.not.ok(existsSync(lock), 'no lock file');
  mkdirSync(join(base, 'state', 'mirror'), { recursive: true });
  const holder = await holdLock(lock);
  assert.is(await withMirrorWrite(dry, async () => 'planned', { wait: false }), 'planned');
  holder.kill('SIGKILL');
  await new Promise((r) => holder.once('exit', r));
});

test('--no-wait (wait: false) against a live writer: MirrorBusyError naming it, nothing run', async () => {
  const holder = await holdLock(lock);
  let ran = false;
  const err = await withMirrorWrite(ctx, async () => void (ran = true), { wait: false }).then(
    () => undefined,
    (e: Error) => e,
  );
  assert.instance(err, MirrorBusyError);
  assert.is((err as MirrorBusyError).holderPid, holder.pid);
  assert.is((err as MirrorBusyError).lockPath, lock);
  assert.not.ok(ran);
  holder.kill('SIGKILL');
  await new Promise((r) => holder.once('exit', r));
});

test('waiting is said once on ctx.log with the live holder, then fn runs under the lock', async () => {
  lines.length = 0;
  const holder = await holdLock(lock);
  let ran = false;
  let othersLockedOut: boolean | undefined;
  const result = withMirrorWrite(ctx, async () => {
    ran = true;
    // Under the lock: another process cannot take it (flock -n fails with 1).
    othersLockedOut = spawnSync('flock', ['-n', '--', lock, 'true']).status === 1;
    return 'written';
  });
  await sleep(300);
  assert.equal(lines, [`waiting for the mirror lock held by pid ${holder.pid}…`]);
  assert.not.ok(ran, 'fn waits while another process holds the lock');
  holder.kill('SIGKILL');
  assert.is(await result, 'written');
  assert.is(othersLockedOut, true, 'fn ran holding the lock');
  assert.equal(lines.length, 1);
});

test('a one-shot writer stops the gpg-agent afterwards; the daemon (stopAgent: false) keeps it; only the outer guard stops it', async () => {
  startAgent();
  await withMirrorWrite(ctx, async () => undefined, { stopAgent: false });
  assert.ok(agentRunning(), 'kept with stopAgent: false');
  let insideAfterInner: boolean | undefined;
  await withMirrorWrite(ctx, async () => {
    await withMirrorWrite(ctx, async () => undefined);
    insideAfterInner = agentRunning();
  });
  assert.is(insideAfterInner, true, 'the inner (re-entered) guard left the agent to the outer one');
  assert.not.ok(agentRunning(), 'the outer guard stopped it');
});

test('an inner guard under an outer one does not wait for itself, and an error releases the lock', async () => {
  const inner = await withMirrorWrite(ctx, () => withMirrorWrite(ctx, async () => 'nested', { wait: false }), { stopAgent: false });
  assert.is(inner, 'nested');
  const failed = await withMirrorWrite(ctx, async () => Promise.reject(new Error('boom')), { stopAgent: false }).then(
    () => 'ok',
    (e: Error) => e.message,
  );
  assert.is(failed, 'boom');
  // Released for other processes, not only for this one's next (re-entrant) call.
  assert.is(spawnSync('flock', ['-n', '--', lock, 'true']).status, 0, 'another process can take the lock after the error');
  assert.is(await withMirrorWrite(ctx, async () => 'free again', { wait: false, stopAgent: false }), 'free again');
  const holder = await holdLock(lock);
  const busy = await withMirrorWrite(ctx, async () => 'ran', { wait: false, stopAgent: false }).catch((e: unknown) => e);
  assert.ok(busy instanceof MirrorBusyError, 'not treated as nested after the error');
  holder.kill('SIGKILL');
});

test('CLI: `mirror publish --no-wait` while another process holds the lock fails at once, naming the live holder', async () => {
  const m = cliMirror('nk-write-guard-cli-');
  try {
    const mlock = join(m.state, 'mirror', 'lock');
    mkdirSync(join(m.state, 'mirror'), { recursive: true });
    // A stale PID from an earlier writer is in the file; the kernel says who holds it now.
    writeFileSync(mlock, '999999999\n');
    const holder = await holdLock(mlock);
    const r = m.run('mirror', 'publish', '--no-wait');
    assert.is(r.code, 1, r.stderr);
    assert.match(r.stderr, `the mirror is being written by another nspawn-kit process (pid ${holder.pid})`);
    assert.match(r.stderr, 'run again without --no-wait to wait for it');
    assert.not.match(r.stderr, '999999999');
    assert.not.ok(existsSync(join(m.root, 'dists')), 'nothing published');
    holder.kill('SIGKILL');
  } finally {
    rmSync(m.base, { recursive: true, force: true });
  }
});

test.run();
