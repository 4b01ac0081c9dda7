/**
 * The two records `status` reads (mirror/refresh-record.ts, mirror/daemon-record.ts)
 * and the readability probe of list/status (dir-access.ts), on files made at
 * test time: a refresh's outcome is recorded whether it returns or throws (and
 * not in a dry run); hostile or damaged records (a link, a FIFO, too big, bad
 * fields) are reported, never believed; where systemd is PID 1 and no live
 * daemon is recorded, `systemctl is-active` on the packaged unit decides.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Shell } from '../../src/shell.js';
import { readableDir } from '../../src/dir-access.js';
import { DAEMON_UNIT } from '../../src/triggers/daemon-unit.js';
import { DAEMON_UNIT_NAME, daemonRecordPath, daemonState, parseDaemonRecord, recordDaemon } from '../../src/mirror/daemon-record.js';
import { parseRefreshRecord, readRefreshRecord, recordedRefresh, refreshRecordPath } from '../../src/mirror/refresh-record.js';
import { formatDaemonAndRefresh } from '../../src/mirror/status.js';
import { makeConfig } from '../helpers/config.js';
import { ROOT } from '../helpers/cli.js';

const base = mkdtempSync(join(tmpdir(), 'nk-S-records-'));
test.after(() => rmSync(base, { recursive: true, force: true }));
let n = 0;
function fresh() {
  const config = makeConfig(join(base, String(++n)));
  const lines: string[] = [];
  const sh = new Shell({ log: (l) => lines.push(l) });
  return { config, sh, lines, ctx: { sh, config, log: (l: string) => lines.push(l) } };
}

test('recordedRefresh: a returned report is recorded (ok only without problems), a thrown error as failed with its message; both pass through unchanged', async () => {
  const { config, ctx } = fresh();
  const report = { problems: [] as string[], n: 1 };
  assert.is(await recordedRefresh(ctx, async () => report), report);
  const first = await readRefreshRecord(config);
  assert.equal([first.error, first.record?.ok, first.record?.finished, first.record?.problems, first.record?.problem], [undefined, true, true, 0, undefined]);
  await recordedRefresh(ctx, async () => ({ problems: ['rejected a.deb: bad', 'warm x: failed'] }));
  const second = (await readRefreshRecord(config)).record;
  assert.equal([second?.ok, second?.finished, second?.problems, second?.problem], [false, true, 2, 'rejected a.deb: bad']);
  const boom = new Error('publish failed: disk full');
  try {
    await recordedRefresh(ctx, async () => {
      throw boom;
    });
    assert.unreachable('the error must pass through');
  } catch (err) {
    assert.is(err, boom);
  }
  const third = (await readRefreshRecord(config)).record;
  assert.equal([third?.ok, third?.finished, third?.problems, third?.problem], [false, false, 1, 'publish failed: disk full']);
  assert.ok(third && Date.parse(third.at) >= Date.parse(third.startedAt) && third.durationMs >= 0);
  assert.equal(formatDaemonAndRefresh({ daemon: { running: false, how: 'pid-file' }, lastRefresh: third! }), [
    'daemon: not running',
    `last refresh: ${third!.at}, FAILED after ${(third!.durationMs / 1000).toFixed(1)} s: publish failed: disk full`,
  ]);
});

test('recordedRefresh in a dry run records nothing (and plans no write)', async () => {
  const { config } = fresh();
  const lines: string[] = [];
  const sh = new Shell({ dryRun: true, log: (l) => lines.push(l) });
  await recordedRefresh({ sh, config }, async () => ({ problems: [] }));
  assert.not.ok(existsSync(refreshRecordPath(config)));
  assert.equal(lines, []);
});

test('readRefreshRecord: a link, a FIFO, an oversized file, bad JSON and bad fields are reported, not believed', async () => {
  const { config, ctx } = fresh();
  await recordedRefresh(ctx, async () => ({ problems: [] }));
  const path = refreshRecordPath(config);
  const good = readFileSync(path, 'utf8');
  const elsewhere = join(base, `good-${n}.json`);
  writeFileSync(elsewhere, good);
  rmSync(path);
  symlinkSync(elsewhere, path);
  assert.equal(await readRefreshRecord(config), { error: `${path}: ELOOP` });
  rmSync(path);
  execFileSync('mkfifo', ['--', path]);
  assert.equal(await readRefreshRecord(config), { error: `${path}: not a regular file` });
  rmSync(path);
  writeFileSync(path, `${good.trimEnd()}${' '.repeat(17 * 1024)}`);
  assert.equal(await readRefreshRecord(config), { error: `${path}: larger than 16384 bytes` });
  writeFileSync(path, '{"version":1,');
  assert.equal(await readRefreshRecord(config), { error: `${path}: not valid JSON` });
  const rec = JSON.parse(good) as Record<string, unknown>;
  assert.is(parseRefreshRecord({ ...rec, at: 'yesterday' }), 'at: expected an ISO-8601 UTC time');
  assert.is(parseRefreshRecord({ ...rec, ok: true, problem: 'x' }), 'ok: true with a problem');
  assert.is(parseRefreshRecord({ ...rec, ok: false }), 'problem: missing where ok is false');
  assert.is(parseRefreshRecord({ ...rec, ok: false, problem: 'x', problems: -1 }), 'problems: expected a count');
  assert.is(parseRefreshRecord({ ...rec, extra: 1 }), 'unknown field "extra"');
  assert.is(parseRefreshRecord([rec]), 'not a JSON object');
  assert.equal(parseRefreshRecord(rec), rec);
});

test('daemon record: written with this process and its start time, believed while it lives, removed by its remover; a dry run writes none', async () => {
  const { config, sh } = fresh();
  const forget = await recordDaemon(sh, config, { watch: true, schedule: false });
  const stat = readFileSync(`/proc/${process.pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  const rec = JSON.parse(readFileSync(daemonRecordPath(config), 'utf8')) as Record<string, unknown>;
  assert.equal([rec.pid, rec.startTime, rec.watch, rec.schedule], [process.pid, stat[19], true, false]);
  const state = await daemonState(sh, config);
  assert.equal(state, { running: true, pid: process.pid, how: 'pid-file', since: rec.startedAt as string, watch: true, schedule: false });
  assert.equal(formatDaemonAndRefresh({ daemon: state, lastRefresh: null }), [
    `daemon: running (pid ${process.pid} since ${rec.startedAt as string}, watch)`,
    'last refresh: none recorded yet (`nspawn-kit mirror refresh`, the daemon\'s schedule or the nightly job records it)',
  ]);
  await forget();
  assert.not.ok(existsSync(daemonRecordPath(config)));
  assert.equal(await daemonState(sh, config), { running: false, how: 'pid-file' });

  const dry = new Shell({ dryRun: true, log: () => undefined });
  await (await recordDaemon(dry, config, { watch: true, schedule: true }))();
  assert.not.ok(existsSync(daemonRecordPath(config)));
});

test('daemon record: another process\'s remover leaves a newer daemon\'s record; bad fields are refused', async () => {
  const { config, sh } = fresh();
  const forget = await recordDaemon(sh, config, { watch: true, schedule: true });
  const path = daemonRecordPath(config);
  const other = { ...(JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>), pid: 1 };
  writeFileSync(path, JSON.stringify(other));
  await forget();
  assert.ok(existsSync(path), 'a record that is not ours stays');
  assert.is(parseDaemonRecord({ ...other, pid: 0 }), 'pid: expected a process ID');
  assert.is(parseDaemonRecord({ ...other, startTime: '12 34' }), 'startTime: expected clock ticks');
  assert.is(parseDaemonRecord({ ...other, watch: 'yes' }), 'watch: expected true or false');
});

test('where systemd is PID 1 and no live daemon is recorded, systemctl is-active on the packaged unit decides', async () => {
  assert.is(DAEMON_UNIT_NAME, DAEMON_UNIT);
  const { config, sh } = fresh();
  const stubs = join(base, `stubs-${n}`);
  const log = join(stubs, 'calls');
  mkdirSync(stubs, { recursive: true });
  writeFileSync(join(stubs, 'systemctl'), `#!/bin/sh\necho "$*" >>'${log}'\ncat '${join(stubs, 'answer')}'\n`);
  chmodSync(join(stubs, 'systemctl'), 0o755);
  const path = process.env.PATH;
  process.env.PATH = `${stubs}:${path}`;
  try {
    const onSystemd = { ...config, host: { ...config.host, systemdPid1: true } };
    writeFileSync(join(stubs, 'answer'), 'active\n');
    const up = await daemonState(sh, onSystemd);
    assert.equal(up, { running: true, how: 'systemd' });
    assert.equal(formatDaemonAndRefresh({ daemon: up, lastRefresh: null })[0], 'daemon: running (systemd: nspawn-kit-daemon.service is active)');
    writeFileSync(join(stubs, 'answer'), 'inactive\n');
    assert.equal(await daemonState(sh, onSystemd), { running: false, how: 'systemd' });
    assert.equal(readFileSync(log, 'utf8'), `is-active -- ${DAEMON_UNIT}\nis-active -- ${DAEMON_UNIT}\n`);
    // Without systemd as PID 1 it is not asked.
    assert.equal(await daemonState(sh, config), { running: false, how: 'pid-file' });
    assert.is(readFileSync(log, 'utf8').split('\n').length, 3);
  } finally {
    process.env.PATH = path;
  }
});

test('readableDir: absent or not a directory is false, readable is true; as uid 65534 a 0700 directory of root is a PreflightError (exit 1) naming it', async () => {
  const dir = join(base, 'probe');
  assert.is(await readableDir(dir, 'list'), false);
  writeFileSync(dir, 'a file');
  assert.is(await readableDir(dir, 'list'), false);
  rmSync(dir);
  mkdirSync(dir, { mode: 0o700 });
  assert.is(await readableDir(dir, 'list'), true);
  if (process.geteuid?.() !== 0) return;
  // A child as nobody (the probe is in this process's credentials): the error it prints.
  chmodSync(base, 0o755);
  const script = `import('${join(ROOT, 'src', 'dir-access.ts')}').then((m) => m.readableDir(${JSON.stringify(dir)}, 'list')).then((r) => process.stdout.write('returned ' + r), (e) => process.stdout.write(e.name + ' ' + e.exitCode + ' ' + e.message + '\\n'))`;
  const out = execFileSync(process.execPath, ['--import', join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs'), '-e', script], { uid: 65534, gid: 65534, encoding: 'utf8', cwd: '/' });
  assert.is(out, `PreflightError 1 cannot read ${dir} (permission denied): \`nspawn-kit list\` needs root, or read permission on it\n`);
});

test.run();
