/** The Shell running real commands (printf, sh, touch, echo): argv, errors, dry-run, streamed lines. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Shell } from '../../src/shell.js';
import { CommandError } from '../../src/errors.js';

test('hostile values reach the command as one argument and run nothing', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nk-shell-'));
  try {
    const sh = new Shell();
    const out = await sh.read(['printf', ['%s\\n', '--', `$(touch ${dir}/pwned)`, 'a b', '`id`']], { cwd: dir });
    assert.is(out.stdout, `--\n$(touch ${dir}/pwned)\na b\n\`id\`\n`);
    assert.equal(await readdir(dir), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a failing command raises CommandError with the command and stderr tail', async () => {
  const sh = new Shell();
  try {
    await sh.read(['sh', ['-c', 'echo boom >&2; exit 3']]);
    assert.unreachable('should throw');
  } catch (err) {
    assert.instance(err, CommandError);
    const e = err as CommandError;
    assert.is(e.commandExitCode, 3);
    assert.match(e.message, "sh -c $'echo boom >&2; exit 3'");
    assert.match(e.stderrTail, 'boom');
  }
});

test('dry-run prints writes, skips them, still runs reads', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nk-shell-'));
  const lines: string[] = [];
  try {
    const sh = new Shell({ dryRun: true, log: (l) => lines.push(l) });
    const r = await sh.write(['touch', ['--', join(dir, 'x')]]);
    assert.ok(r.skipped);
    await sh.writeFile(join(dir, 'y'), 'data');
    await sh.mkdir(join(dir, 'sub'));
    const read = await sh.read(['echo', ['hi']]);
    assert.is(read.stdout, 'hi\n');
    assert.equal(await readdir(dir), []);
    assert.is(sh.planned.length, 3);
    assert.match(lines[0] ?? '', `[dry-run] touch -- ${dir}/x`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('onLine streams output lines', async () => {
  const sh = new Shell();
  const seen: string[] = [];
  await sh.read(['sh', ['-c', 'echo one; echo two >&2; echo three']], { onLine: (l) => seen.push(l) });
  assert.equal(seen.sort(), ['one', 'three', 'two']);
});

test.run();
