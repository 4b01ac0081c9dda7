import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ExitHooks, exitOnSignals } from '../../src/exit-hooks.js';

function listeners(): [number, number] {
  return [process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')];
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

test('exitOnSignals: handlers only while a hook is registered; a signal runs the hooks, then exits 130 / 143', async () => {
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    const hooks = new ExitHooks();
    const before = listeners();
    const written: string[] = [];
    const exited: number[] = [];
    let exit!: () => void;
    const done = new Promise<void>((r) => (exit = r));
    const stop = exitOnSignals({
      hooks,
      log: (line) => written.push(line),
      exit: (c) => {
        exited.push(c);
        exit();
      },
    });
    try {
      assert.equal(listeners(), before, 'no hook: Node default behaviour untouched');
      const cleaned: string[] = [];
      const off = hooks.register({ what: 'removing unfinished builds', cleanup: async () => void cleaned.push('build') });
      assert.equal(listeners(), [before[0] + 1, before[1] + 1]);
      off();
      assert.equal(listeners(), before, 'the last hook gone: handlers removed');
      hooks.register({ what: 'removing unfinished builds', cleanup: async () => void cleaned.push('build') });
      process.emit(signal, signal);
      await done;
      assert.equal(cleaned, ['build']);
      assert.equal(exited, [code]);
      assert.equal(written, ['', `nspawn-kit: ${signal}: removing unfinished builds`]);
    } finally {
      stop();
    }
    assert.equal(listeners(), before, 'stop() removes the handlers');
  }
});

test.run();
