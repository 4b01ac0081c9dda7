import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ExitHooks, claimSignals, exitOnSignals } from '../../src/exit-hooks.js';

function listeners(): [number, number, number] {
  return [process.listenerCount('SIGINT'), process.listenerCount('SIGTERM'), process.listenerCount('SIGHUP')];
}

test('register returns an idempotent unregister; describe names each kind of hook once', () => {
  const hooks = new ExitHooks();
  const a = hooks.register({ what: 'removing unfinished builds', cleanup: async () => {} });
  hooks.register({ what: 'removing unfinished builds', cleanup: async () => {} });
  hooks.register({ what: 'unmounting overlays', cleanup: async () => {} });
  assert.is(hooks.size, 3);
  assert.is(hooks.describe(), 'removing unfinished builds, unmounting overlays');
  a();
  a();
  assert.is(hooks.size, 2);
});

test('runAll interrupts every hook before the first cleanup, then cleans up in order; a failure does not stop the rest', async () => {
  const hooks = new ExitHooks();
  const events: string[] = [];
  const reason = new Error('interrupted by SIGTERM');
  for (const name of ['one', 'two', 'three']) {
    hooks.register({
      what: name,
      interrupt: (r) => events.push(`interrupt ${name}: ${r.message}`),
      cleanup: async () => {
        await new Promise((r) => setTimeout(r, 5));
        events.push(`cleanup ${name}`);
        if (name === 'two') throw new Error('could not remove /x: EBUSY');
      },
    });
  }
  const reported: string[] = [];
  await hooks.runAll(reason, (line) => reported.push(line));
  assert.equal(events, [
    'interrupt one: interrupted by SIGTERM',
    'interrupt two: interrupted by SIGTERM',
    'interrupt three: interrupted by SIGTERM',
    'cleanup one',
    'cleanup two',
    'cleanup three',
  ]);
  assert.equal(reported, ['could not remove /x: EBUSY']);
});

test('exitOnSignals: handlers always (hook or not); a signal interrupts the hooks, stops the children, cleans up, stops the children again, exits 129 / 130 / 143', async () => {
  for (const [signal, code] of [['SIGHUP', 129], ['SIGINT', 130], ['SIGTERM', 143]] as const) {
    const hooks = new ExitHooks();
    const before = listeners();
    const written: string[] = [];
    const events: string[] = [];
    let exit!: () => void;
    const done = new Promise<void>((r) => (exit = r));
    const stop = exitOnSignals({
      hooks,
      log: (line) => written.push(line),
      stopChildren: async () => void events.push('stop children'),
      exit: (c) => {
        events.push(`exit ${c}`);
        exit();
      },
    });
    try {
      assert.equal(listeners(), [before[0] + 1, before[1] + 1, before[2] + 1], 'installed with no hook registered');
      hooks.register({ what: 'removing unfinished builds', interrupt: () => void events.push('interrupt'), cleanup: async () => void events.push('cleanup') });
      process.emit(signal, signal);
      await done;
      assert.equal(events, ['interrupt', 'stop children', 'cleanup', 'stop children', `exit ${code}`]);
      assert.equal(written, ['', `nspawn-kit: ${signal}: stopping child processes, removing unfinished builds`]);
    } finally {
      stop();
    }
    assert.equal(listeners(), before, 'stop() removes the handlers');
  }
});

test('exitOnSignals: no hook still stops the children; while a command claims the signals (daemon, serve) the handler does nothing', async () => {
  const events: string[] = [];
  let exit!: () => void;
  let done = new Promise<void>((r) => (exit = r));
  const stop = exitOnSignals({
    hooks: new ExitHooks(),
    log: () => undefined,
    stopChildren: async () => void events.push('stop children'),
    exit: (c) => {
      events.push(`exit ${c}`);
      exit();
    },
  });
  const release = claimSignals();
  try {
    process.emit('SIGTERM', 'SIGTERM');
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(events, [], 'claimed: the command stops itself');
    release();
    release();
    process.emit('SIGTERM', 'SIGTERM');
    await done;
    assert.equal(events, ['stop children', 'stop children', 'exit 143']);
    done = new Promise<void>((r) => (exit = r));
  } finally {
    release();
    stop();
  }
});

test.run();
