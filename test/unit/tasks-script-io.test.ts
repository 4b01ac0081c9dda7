/**
 * The task scripts' and hooks' own plumbing: their flags (parseScriptArgv),
 * the path their usage names (invokedAs), and where a stage's log lines and
 * progress go in a terminal, without one, and under --json (stageSinks).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { UsageError } from '../../src/errors.js';
import { Shell } from '../../src/shell.js';
import type { AppContext } from '../../src/context.js';
import { stageSinks } from '../../src/tasks/listr-output.js';
import { parseScriptArgv } from '../../src/tasks/script.js';
import { invokedAs, usageText } from '../../src/tasks/usage.js';
import { makeConfig } from '../helpers/config.js';

test('parseScriptArgv: common flags, the script\'s own, a word after a switch is an argument', () => {
  assert.equal(parseScriptArgv({ _: [], config: '/c.json', json: true, n: true }), { config: '/c.json', dryRun: true, verbose: false, json: true, recipe: undefined, name: undefined, args: [] });
  // minimist reads `--dry-run FILE` as --dry-run=FILE.
  assert.equal(parseScriptArgv({ _: ['/b.deb'], 'dry-run': '/a.deb', codename: 'bookworm' }, ['codename']).args, ['/b.deb', '/a.deb']);
  assert.is(parseScriptArgv({ _: [], recipe: 'qgis', name: 'box' }, ['recipe', 'name']).name, 'box');
  // An option the script does not take is a usage error, not ignored.
  assert.throws(() => parseScriptArgv({ _: [], name: 'box' }, ['recipe']), (e: unknown) => e instanceof UsageError && e.message === 'unknown option(s): --name' && e.hint === 'Known: --config FILE, --dry-run, --verbose, --json, --recipe NAME; see --help.');
  assert.throws(() => parseScriptArgv({ _: [], recipe: true }, ['recipe']), (e: unknown) => e instanceof UsageError && e.message === '--recipe needs a value');
});

test('invokedAs: the path as started, or through zx; usageText names it and both ways to run', () => {
  assert.is(invokedAs('tasks/index.mjs', ['/usr/bin/node', '/usr/share/nspawn-kit/tasks/index.mjs', '--help']), '/usr/share/nspawn-kit/tasks/index.mjs');
  assert.is(invokedAs('tasks/index.mjs', ['/usr/bin/node', '/x/node_modules/zx/build/cli.js', 'tasks/index.mjs', '--help']), 'npx zx tasks/index.mjs');
  assert.is(invokedAs('tasks/index.mjs', ['/usr/bin/node', '/elsewhere/other.mjs']), 'tasks/index.mjs');
  const text = usageText({ file: 'hooks/x.mjs', args: '[FILE...]', about: 'Does x.', options: [['--codename NAME', 'the suite (default: the host\'s)']] }, ['/usr/bin/node', '/opt/k/hooks/x.mjs']).split('\n');
  assert.is(text[0], 'usage: /opt/k/hooks/x.mjs [OPTIONS] [FILE...]');
  assert.is(text[1], '  Does x.');
  assert.ok(text.includes('  from a checkout:    npx zx hooks/x.mjs [OPTIONS] [FILE...]'), text.join('\n'));
  assert.ok(text.includes('  installed (.deb):   /usr/share/nspawn-kit/hooks/x.mjs [OPTIONS] [FILE...]   (as root)'), text.join('\n'));
  assert.ok(text.some((l) => /^ {2}--codename NAME +the suite \(default: the host's\)$/.test(l)), text.join('\n'));
});

function app(opts: AppContext['opts']): AppContext {
  return { config: makeConfig('/nonexistent'), sh: new Shell({ log: () => undefined }), opts, log: () => undefined };
}

/** Runs `fn` with stdout/stderr reported as terminals (or not), CI unset, stderr writes captured. */
function withTty<T>(tty: boolean, fn: (err: string[]) => T): T {
  const saved = { out: process.stdout.isTTY, err: process.stderr.isTTY, ci: process.env.CI, write: process.stderr.write };
  const err: string[] = [];
  process.stdout.isTTY = tty;
  process.stderr.isTTY = tty;
  delete process.env.CI;
  process.stderr.write = ((chunk: string) => (err.push(String(chunk)), true)) as typeof process.stderr.write;
  try {
    return fn(err);
  } finally {
    process.stdout.isTTY = saved.out;
    process.stderr.isTTY = saved.err;
    if (saved.ci === undefined) delete process.env.CI;
    else process.env.CI = saved.ci;
    process.stderr.write = saved.write;
  }
}

test('stageSinks: in a terminal the progress is the task\'s output line; without one the entry point\'s sink; under --json event lines', () => {
  const event = { stage: 'download bookworm', done: 12, total: 120, unit: 'packages', bytes: 3 * 1024 * 1024, totalBytes: 70 * 1024 * 1024 };
  const tty = withTty(true, (err) => {
    const output: string[] = [];
    const s = stageSinks(app({}), 'Warm', (l) => output.push(l));
    s.log('a line');
    s.progress?.(event);
    return { output, err, hasProgress: s.progress !== undefined };
  });
  assert.ok(tty.hasProgress);
  assert.is(tty.output[0], 'a line');
  assert.match(tty.output[1] ?? '', /^download bookworm: 12\/120 packages, 3\.0\/70\.0 MiB/);
  assert.equal(tty.err, []);
  // No terminal (or --dry-run, --verbose): log lines to the task (listr2 prints them on stderr), progress through the Shell's own sink.
  const line = withTty(false, () => stageSinks(app({}), 'Warm', () => undefined));
  assert.is(line.progress, undefined);
  assert.is(withTty(true, () => stageSinks(app({ dryRun: true }), 'Warm', () => undefined)).progress, undefined);
  // --json: the log line is an event naming the stage; nothing reaches the task's output.
  const json = withTty(true, (err) => {
    const output: string[] = [];
    const s = stageSinks(app({ json: true }), 'Warm', (l) => output.push(l));
    s.log('[dry-run] x');
    return { output, err, progress: s.progress };
  });
  assert.equal(json.output, []);
  assert.is(json.progress, undefined);
  assert.equal(json.err.map((l) => JSON.parse(l) as unknown), [{ event: 'log', stage: 'Warm', message: '[dry-run] x' }]);
});

test.run();
