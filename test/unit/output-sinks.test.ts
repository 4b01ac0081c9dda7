/**
 * The sinks of every printed line (escape.ts): the error renderer, the import
 * report, the daemon's event lines, the listr2 stage wrapper, and a scan of
 * the sources so that no new raw write to stdout/stderr bypasses them.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { CommandError, ConfigError, OperationError, formatError } from '../../src/errors.js';
import { neutralizeLine } from '../../src/escape.js';
import { emptyReport, formatImportReport } from '../../src/mirror/import-state.js';
import { createEventLog } from '../../src/triggers/daemon.js';
import { runGraph, stage, type StageCtx } from '../../src/tasks/runner.js';
import { Shell } from '../../src/shell.js';
import type { AppContext } from '../../src/context.js';
import { makeConfig } from '../helpers/config.js';
import { ROOT } from '../helpers/cli.js';

const FORGED = '\n[ok] imported evil';
const printable = (s: string) => /^[\x20-\x7e\n→]*$/.test(s);

test('formatError: a ConfigError problem with a newline stays one line', () => {
  const text = formatError(new ConfigError([`recipes.a.hostname: "x${FORGED}\x1b[2J" is not a hostname`, 'mirror.root: must be absolute']));
  assert.is(
    text,
    'invalid configuration:\n  - recipes.a.hostname: "x\\n[ok] imported evil\\u001b[2J" is not a hostname\n  - mirror.root: must be absolute\n  → Fix the configuration and run again; `nspawn-kit config` shows the resolved result.',
  );
});

test('formatError: a CommandError keeps the lines of the stderr tail, escapes their control characters', () => {
  const err = new CommandError("dpkg-deb --info -- $'/a/b\\nc.deb'", 2, "dpkg-deb: error: '/a/b\nc.deb'\x1b[2J\u009b is not a Debian archive\n");
  assert.is(formatError(err), "command exited with 2: dpkg-deb --info -- $'/a/b\\nc.deb'\n    dpkg-deb: error: '/a/b\n    c.deb'\\u001b[2J\\u009b is not a Debian archive");
  // The message itself (what a caller may log) is unchanged.
  assert.match(err.message, '\x1b[2J');
});

test('formatError: only the first line of any other error starts at column 0', () => {
  const err = new OperationError(`cannot read /a/evil${FORGED}\u202e.deb:\n  first-boot log:\n    line`, `Remove /a/evil${FORGED}.`);
  assert.is(formatError(err), 'cannot read /a/evil\n  [ok] imported evil\\u202e.deb:\n  first-boot log:\n    line\n  → Remove /a/evil\n  [ok] imported evil.');
  const plain = formatError(new Error(`ENOENT: open '/a/evil${FORGED}\x1b[2J'`));
  const [head, ...frames] = plain.split('\n');
  assert.is(head, "Error: ENOENT: open '/a/evil\\n[ok] imported evil\\u001b[2J'");
  assert.ok(frames.length > 0 && frames.every((f) => f.startsWith('    at ')), plain);
  assert.is(formatError(`x${FORGED}\x1b`), 'x\n  [ok] imported evil\\u001b');
});

test('formatImportReport: names escaped (backslash too), a reason of several lines continues indented', () => {
  const r = emptyReport(false);
  r.rejected.push({ file: `/a/b${FORGED}\\x\x1b[2J\u009b.deb`, reason: "not a valid .deb: dpkg-deb: error: bad\x1b[31m\nin control 'p\u202eq'\n" });
  r.conflicts.push({ file: '/a/c.deb', codename: 'bookworm', pool: 'pool/main/c/c/c_1_amd64.deb', reason: 'different bytes' });
  r.warnings.push(`/a/gone${FORGED}: vanished`);
  const lines = formatImportReport(r);
  assert.equal(lines, [
    'import: 0 imported, 0 already present, 0 unchanged, 1 conflict(s), 1 rejected',
    '  conflict: /a/c.deb -> pool/main/c/c/c_1_amd64.deb: different bytes',
    '  rejected: /a/b\\n[ok] imported evil\\\\x\\u001b[2J\\u009b.deb: not a valid .deb: dpkg-deb: error: bad\\u001b[31m',
    "      in control 'p\\u202eq'",
    '  warning: /a/gone\\n[ok] imported evil: vanished',
  ]);
});

test('formatImportReport: a reason that quotes the file name (dpkg does) escapes it there too', () => {
  const r = emptyReport(false);
  const file = `/a/bad${FORGED}\x1b[2J.deb`;
  r.rejected.push({ file, reason: `not a valid .deb: '${file}' is not a Debian format archive\ndpkg-deb: see '${file}'` });
  assert.equal(formatImportReport(r).slice(1), [
    "  rejected: /a/bad\\n[ok] imported evil\\u001b[2J.deb: not a valid .deb: '/a/bad\\n[ok] imported evil\\u001b[2J.deb' is not a Debian format archive",
    "      dpkg-deb: see '/a/bad\\n[ok] imported evil\\u001b[2J.deb'",
  ]);
});

test('daemon event lines: a value with a control character or backslash is JSON-quoted; a sink neutralizes the rest', () => {
  const lines: string[] = [];
  const text = createEventLog((l) => lines.push(neutralizeLine(l)), false);
  text('file', { path: `/a/x\x1b[2J\u009b.deb`, dir: '/a\\b', ok: 'plain' });
  assert.match(lines[0] ?? '', / file path="\/a\/x\\u001b\[2J\\u009b\.deb" dir="\/a\\\\b" ok=plain$/);
  const json = createEventLog((l) => lines.push(neutralizeLine(l)), true);
  json('file', { path: `/a/x${FORGED}\u009b\u202e.deb` });
  const parsed = JSON.parse(lines[1] ?? '') as { path: string };
  assert.is(parsed.path, `/a/x${FORGED}\u009b\u202e.deb`);
  assert.ok(lines.every(printable), JSON.stringify(lines));
});

test('stage(): output, title and the error message a task sets are neutralized before listr2 sees them', async () => {
  const sh = new Shell({ log: () => undefined });
  const app: AppContext = { config: makeConfig('/nonexistent'), sh, opts: {}, log: () => undefined };
  const ctx: StageCtx = { app, timings: [] };
  const seen: string[] = [];
  await runGraph(ctx, [
    stage<StageCtx>('collect', async (_ctx, task, stageSh) => {
      task.output = `a\x1b[2J${FORGED}`;
      seen.push(String(task.output));
      stageSh.log('b\u009b');
      seen.push(String(task.output));
      return `c\u202e`;
    }),
  ]);
  assert.equal(seen, ['a\\u001b[2J\\n[ok] imported evil', 'b\\u009b']);
  try {
    await runGraph(ctx, [
      stage<StageCtx>('fail', async () => {
        throw new OperationError(`bad /a/x${FORGED}\x1b[2J`);
      }),
    ]);
    assert.unreachable('the stage throws');
  } catch (err) {
    assert.instance(err, OperationError);
    assert.is((err as Error).message, 'bad /a/x\n  [ok] imported evil\\u001b[2J');
  }
});

// Every write to stdout/stderr goes through a sink of escape.ts; these few print only our own constants.
const ALLOWED: Record<string, string[]> = {
  'src/escape.ts': ['stream.write('],
  'src/config/write-schema.ts': ['console.log(`wrote ${name}`)'],
  'src/rootfs/builddir.ts': ['removing unfinished builds', 'could not remove ${b.dir}'],
};
const SAFE = /jsonText\(|neutralize(Line|Block)\(|formatError\(|renderMessage\(|writeLines\(/;
const WRITE = /process\.std(out|err)\.write\(|console\.(log|error|warn|info)\(|stream\.write\(/;

function sources(dir: string, ext: RegExp): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && ext.test(e.name))
    .map((e) => join(e.parentPath, e.name));
}

test('no raw write to stdout/stderr outside the sinks (scan of src/, hooks/, tasks/)', () => {
  const files = [...sources(join(ROOT, 'src'), /\.ts$/), ...sources(join(ROOT, 'hooks'), /\.mjs$/), ...sources(join(ROOT, 'tasks'), /\.mjs$/)];
  assert.ok(files.length > 50, `found the sources (${files.length})`);
  const raw: string[] = [];
  for (const file of files) {
    const rel = relative(ROOT, file);
    readFileSync(file, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        if (!WRITE.test(line) || SAFE.test(line) || line.trim().startsWith('//') || line.trim().startsWith('*')) return;
        if ((ALLOWED[rel] ?? []).some((a) => line.includes(a))) return;
        raw.push(`${rel}:${i + 1}: ${line.trim()}`);
      });
  }
  assert.equal(raw, [], `unescaped output; print through src/escape.ts:\n${raw.join('\n')}`);
});

test.run();
