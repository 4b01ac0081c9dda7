/**
 * `list`, `status` and `rm` through the real CLI (issue 15):
 * - as uid 65534, directories of root's with mode 0700 (machines.dir,
 *   mirror.root, stateDir) are named as unreadable by list, status and a dry-run rm, exit 1, never "no
 *   machines" or "none yet"; absent directories are still an answer (exit 0);
 * - `list` shows the size of the base an overlay machine stands on ("-" for a copy);
 * - `--dry-run rm` says what it would remove (stdout), the Shell plans each
 *   removal on stderr, and nothing is removed; the real `rm` then removes the same;
 * - `status` says whether the daemon runs (a real `watch` process; a record of
 *   a process that is gone, or a link, is not believed) and how the last
 *   `mirror refresh` ended (ok, or failed with its error).
 * Every fixture is made at test time in a temporary directory.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, cli, cliEnv, entry } from '../helpers/cli.js';
import { provenanceRecord } from '../helpers/records.js';
import { makeDeb } from '../helpers/debs.js';
import { Shell } from '../../src/shell.js';
import { writeProvenance } from '../../src/machine/provenance.js';

const NOBODY = 65534;
const isRoot = process.geteuid?.() === 0;
const systemdPid1 = (() => {
  try {
    return readFileSync('/proc/1/comm', 'utf8').trim() === 'systemd';
  } catch {
    return false;
  }
})();
const sh = new Shell({ log: () => undefined });
const bases: string[] = [];

/** A configuration whose every path lies in a new temporary directory (mode 0755, so uid 65534 reaches the config file). */
function setup(prefix: string) {
  const base = mkdtempSync(join(tmpdir(), prefix));
  bases.push(base);
  chmodSync(base, 0o755);
  const p = {
    base,
    state: join(base, 'state'),
    mirror: join(base, 'mirror'),
    machines: join(base, 'machines'),
    settings: join(base, 'nspawn'),
    units: join(base, 'units'),
    archives: join(base, 'archives'),
    recipes: join(base, 'recipes'),
    cfg: join(base, 'cfg.json'),
  };
  mkdirSync(p.archives);
  mkdirSync(p.recipes);
  // The bundled recipes, overridden by name: a refresh warms none of them and checks no update suite (no network in tests).
  for (const f of readdirSync(join(ROOT, 'recipes')).filter((n) => n.endsWith('.json'))) {
    writeFileSync(join(p.recipes, f), JSON.stringify({ codename: 'bookworm', variant: 'minbase', refresh: false, updates: false }));
  }
  writeFileSync(
    p.cfg,
    JSON.stringify({
      stateDir: p.state,
      mirror: { root: p.mirror, archives: [{ path: p.archives, codename: 'bookworm' }] },
      machines: { dir: p.machines, settingsDir: p.settings, unitDir: p.units },
      recipeDirs: [p.recipes],
      watch: { settleMs: 200, batchMs: 100 },
    }),
  );
  chmodSync(p.cfg, 0o644);
  const run = (args: string[], as?: number) => cli(['--config', p.cfg, ...args], { env: { HOME: base, NO_COLOR: '1', NSPAWN_KIT_CONFIG_DIR: join(base, 'no-etc') }, ...(as !== undefined ? { uid: as, gid: as } : {}) });
  return { ...p, run };
}

test.after(() => {
  for (const b of bases) {
    try {
      execFileSync('gpgconf', ['--homedir', join(b, 'state', 'gnupg'), '--kill', 'all'], { stdio: 'ignore' });
    } catch {
      /* no agent */
    }
    rmSync(b, { recursive: true, force: true });
  }
});

/**
 * A --json run that failed with `message`: exit 1, nothing on stdout, every
 * stderr line a JSON event, the last one the error with the message and exit code 1.
 */
function assertJsonFailure(r: { code: number | null; stdout: string; stderr: string }, message: string): void {
  assert.is(r.code, 1, r.stderr);
  assert.is(r.stdout, '');
  const events = r.stderr.trim().split('\n').map((l) => JSON.parse(l) as { event?: string; error?: string; exitCode?: number });
  const e = events.at(-1);
  assert.equal([e?.event, e?.error, e?.exitCode], ['error', message, 1], r.stderr);
}

const du = (dir: string) => Number(execFileSync('du', ['-sb', '--one-file-system', '--', dir], { encoding: 'utf8' }).split('\t')[0]);

/** A copy machine: its root with etc/, a payload and a provenance record; its .nspawn file. */
async function copyMachine(p: ReturnType<typeof setup>, name: string): Promise<string> {
  const root = join(p.machines, name);
  mkdirSync(join(root, 'etc'), { recursive: true });
  writeFileSync(join(root, 'payload'), Buffer.alloc(300_000));
  await writeProvenance(sh, root, provenanceRecord({ machine: name }));
  mkdirSync(p.settings, { recursive: true });
  writeFileSync(join(p.settings, `${name}.nspawn`), '[Exec]\nBoot=yes\n');
  return root;
}

/** A base under <stateDir>/base with etc/ and `bytes` of payload; its mtime set (the newest base of a recipe is kept). */
function makeBase(p: ReturnType<typeof setup>, name: string, bytes: number, mtime: number): string {
  const dir = join(p.state, 'base', name);
  mkdirSync(join(dir, 'etc'), { recursive: true });
  writeFileSync(join(dir, 'payload'), Buffer.alloc(bytes));
  utimesSync(dir, mtime, mtime);
  return dir;
}

/** An overlay machine, not mounted: its record, its upper directory (provenance inside), its mount point. */
async function overlayMachine(p: ReturnType<typeof setup>, name: string, base: string, upperBytes: number): Promise<string> {
  const state = join(p.state, 'overlay', name);
  mkdirSync(join(state, 'upper'), { recursive: true });
  mkdirSync(join(state, 'work'), { recursive: true });
  writeFileSync(join(state, 'machine.json'), `${JSON.stringify({ version: 1, machine: name, recipe: 'web', base }, null, 2)}\n`);
  writeFileSync(join(state, 'upper', 'changes'), Buffer.alloc(upperBytes));
  await writeProvenance(sh, join(state, 'upper'), provenanceRecord({ machine: name, recipe: 'web' }));
  mkdirSync(join(p.machines, name), { recursive: true });
  return state;
}

test('as uid 65534: list and status name the unreadable directory and need root, exit 1 (plain and --json); absent directories are still an answer', async () => {
  if (!isRoot) return console.log('  (skipped: needs root to make directories another user cannot read)');
  const p = setup('nk-S-nonroot-');
  // Absent machines.dir, stateDir and mirror: nothing to read, nothing hidden.
  const none = p.run(['list'], NOBODY);
  assert.is(none.code, 0, none.stderr);
  assert.is(none.stdout, 'no machines\n');

  await copyMachine(p, 'web');
  for (const d of [p.machines, p.state, p.mirror]) {
    mkdirSync(d, { recursive: true });
    chmodSync(d, 0o700);
  }
  // As root, the same directories are fine.
  const asRoot = p.run(['list', '--json']);
  assert.is(asRoot.code, 0, asRoot.stderr);
  assert.equal((JSON.parse(asRoot.stdout) as { name: string }[]).map((m) => m.name), ['web']);

  const list = p.run(['list'], NOBODY);
  assert.is(list.code, 1, list.stderr);
  assert.is(list.stdout, '');
  assert.ok(list.stderr.startsWith(`nspawn-kit: cannot read ${p.machines} (permission denied): \`nspawn-kit list\` needs root, or read permission on it\n`), list.stderr);
  assert.match(list.stderr, `Run it again as root (e.g. \`sudo nspawn-kit list\`), or give this user read and search permission on ${p.machines}.`);

  assertJsonFailure(p.run(['--json', 'list'], NOBODY), `cannot read ${p.machines} (permission denied): \`nspawn-kit list\` needs root, or read permission on it`);

  // A dry-run rm as that user: not "no machine web".
  const rm = p.run(['--dry-run', 'rm', 'web'], NOBODY);
  assert.is(rm.code, 1, rm.stderr);
  assert.is(rm.stdout, '');
  assert.match(rm.stderr, `nspawn-kit: cannot read ${p.machines} (permission denied): \`nspawn-kit rm\` needs root`);

  // machines.dir readable, stateDir not: the overlay records and bases under it are not taken for "none".
  chmodSync(p.machines, 0o755);
  const listState = p.run(['list'], NOBODY);
  assert.is(listState.code, 1, listState.stderr);
  assert.match(listState.stderr, `nspawn-kit: cannot read ${p.state} (permission denied)`);

  const status = p.run(['status'], NOBODY);
  assert.is(status.code, 1, status.stderr);
  assert.is(status.stdout, '');
  assert.ok(status.stderr.startsWith(`nspawn-kit: cannot read ${p.mirror} (permission denied): \`nspawn-kit status\` needs root, or read permission on it\n`), status.stderr);
  chmodSync(p.mirror, 0o755);
  assertJsonFailure(p.run(['--json', 'status'], NOBODY), `cannot read ${p.state} (permission denied): \`nspawn-kit status\` needs root, or read permission on it`);
  // stateDir readable, the signing key's directory (always 0700) not: still no "none yet".
  chmodSync(p.state, 0o755);
  mkdirSync(join(p.state, 'gnupg'), { mode: 0o700 });
  const statusKey = p.run(['status'], NOBODY);
  assert.is(statusKey.code, 1, statusKey.stderr);
  assert.match(statusKey.stderr, `nspawn-kit: cannot read ${join(p.state, 'gnupg')} (permission denied)`);
  assert.not.match(statusKey.stderr + statusKey.stdout, 'none yet');
});

test('list: an overlay machine shows the size of the base it stands on (measured with du, same for two machines on one base); a copy shows "-"', async () => {
  const p = setup('nk-S-list-');
  const baseDir = makeBase(p, 'web-0123456789abcdef', 3 * 1048576, 1_700_000_000);
  await overlayMachine(p, 'web1', 'web-0123456789abcdef', 50_000);
  await overlayMachine(p, 'web2', 'web-0123456789abcdef', 60_000);
  await copyMachine(p, 'plain');
  const r = p.run(['--json', 'list']);
  assert.is(r.code, 0, r.stderr);
  const rows = JSON.parse(r.stdout) as { name: string; storage: string; base?: string; baseBytes?: number; sizeBytes: number }[];
  const baseBytes = du(baseDir);
  assert.ok(baseBytes >= 3 * 1048576, String(baseBytes));
  assert.equal(
    rows.map((m) => [m.name, m.storage, m.base, m.baseBytes, m.sizeBytes]),
    [
      ['plain', 'copy', undefined, undefined, du(join(p.machines, 'plain'))],
      ['web1', 'overlay', baseDir, baseBytes, du(join(p.state, 'overlay', 'web1', 'upper'))],
      ['web2', 'overlay', baseDir, baseBytes, du(join(p.state, 'overlay', 'web2', 'upper'))],
    ],
  );
  assert.ok(!('baseBytes' in (rows[0] ?? {})), 'a copy has no baseBytes field');
  const table = p.run(['list']);
  assert.is(table.code, 0, table.stderr);
  const lines = table.stdout.split('\n');
  assert.match(lines[0] ?? '', /^NAME\s+RECIPE\s+CODENAME\s+PUBLICATION\s+UPDATES\s+SIZE\s+BASE SIZE\s+STORAGE\s+FIRST BOOT\s+STATE$/);
  assert.match(lines[1] ?? '', /^plain\s+bookworm-minimal\s+bookworm\s+bbbbbbbbbbbb\s+\?\s+0 MiB\s+-\s+copy\s+/);
  assert.match(lines[2] ?? '', /^web1\s+web\s+bookworm\s+bbbbbbbbbbbb\s+\?\s+0 MiB\s+3 MiB\s+overlay, not mounted\s+/);
  assert.match(lines[3] ?? '', /^web2\s+web\s+bookworm\s+bbbbbbbbbbbb\s+\?\s+0 MiB\s+3 MiB\s+overlay, not mounted\s+/);
});

test('--dry-run rm: "would remove NAME (…)" on stdout, each removal planned on stderr, nothing removed; --json says dryRun; then rm removes exactly that', async () => {
  const p = setup('nk-S-rm-');
  const older = makeBase(p, 'web-0123456789abcdef', 10_000, 1_700_000_000);
  const newer = makeBase(p, 'web-fedcba9876543210', 10_000, 1_800_000_000);
  const state = await overlayMachine(p, 'web1', 'web-0123456789abcdef', 1000);
  mkdirSync(p.settings, { recursive: true });
  writeFileSync(join(p.settings, 'web1.nspawn'), '[Exec]\nBoot=yes\n');
  const plain = await copyMachine(p, 'plain');
  const paths = [state, join(p.machines, 'web1'), join(p.settings, 'web1.nspawn')];

  const dry = p.run(['--dry-run', 'rm', 'web1']);
  assert.is(dry.code, 0, dry.stderr);
  assert.is(dry.stdout, `would remove web1 (${paths.join(', ')}, base ${older}, which nothing else uses)\n`);
  const planned = dry.stderr.split('\n').filter((l) => l.startsWith('[dry-run] rm '));
  assert.equal(planned, [join(state, 'machine.json'), ...paths, older].map((x) => `[dry-run] rm -rf --one-file-system -- ${x}`));
  for (const x of [...paths, older, newer]) assert.ok(existsSync(x), `${x} kept by the dry run`);

  const dryJson = p.run(['--json', '--dry-run', 'rm', 'web1']);
  assert.is(dryJson.code, 0, dryJson.stderr);
  assert.equal(JSON.parse(dryJson.stdout), { name: 'web1', removed: paths, unmounted: [], releasedBase: older, dryRun: true });

  const dryPlain = p.run(['--dry-run', 'rm', 'plain']);
  assert.is(dryPlain.code, 0, dryPlain.stderr);
  assert.is(dryPlain.stdout, `would remove plain (${plain}, ${join(p.settings, 'plain.nspawn')})\n`);
  assert.ok(existsSync(plain));

  const real = p.run(['rm', 'web1']);
  assert.is(real.code, 0, real.stderr);
  assert.is(real.stdout, `removed web1 and its base ${older}, which nothing else used\n`);
  for (const x of [...paths, older]) assert.not.ok(existsSync(x), `${x} removed`);
  assert.ok(existsSync(newer), 'the newest base of the recipe stays');

  const missing = p.run(['--dry-run', 'rm', 'web1']);
  assert.is(missing.code, 1, missing.stderr);
  assert.is(missing.stdout, '');
  assert.match(missing.stderr, `nspawn-kit: no machine web1 under ${p.machines}`);
});

interface StatusJson {
  daemon: { running: boolean; pid?: number; how: string; since?: string; watch?: boolean; schedule?: boolean; note?: string };
  lastRefresh: { at: string; ok: boolean; finished: boolean; problems: number; problem?: string; durationMs: number } | null;
  lastRefreshError?: string;
}

function status(p: ReturnType<typeof setup>): StatusJson {
  const r = p.run(['--json', 'status']);
  assert.is(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as StatusJson;
}

test('status: the last refresh (none, ok, failed with its error) and whether the daemon runs (a live watch process; a dead or linked record is not believed)', async () => {
  const p = setup('nk-S-status-');
  const how = systemdPid1 ? 'systemd' : 'pid-file';
  const fresh = status(p);
  assert.equal(fresh.daemon, { running: false, how });
  assert.is(fresh.lastRefresh, null);
  assert.match(p.run(['status']).stdout, /\ndaemon: not running\nlast refresh: none recorded yet/);

  // A refresh without a problem.
  makeDeb(p.archives, { name: 'good-nk' });
  const before = Date.now();
  const clean = p.run(['mirror', 'refresh']);
  assert.is(clean.code, 0, clean.stderr);
  const ok = status(p).lastRefresh;
  assert.ok(ok);
  assert.equal([ok.ok, ok.finished, ok.problems, ok.problem], [true, true, 0, undefined]);
  assert.ok(Date.parse(ok.at) >= before && Date.parse(ok.at) <= Date.now(), ok.at);
  assert.match(p.run(['status']).stdout, new RegExp(`\nlast refresh: ${ok.at.replace(/[.]/g, '\\.')}, ok in [0-9.]+ s\n`));

  // One that runs to the end with a problem (a file the importer rejects): exit 1, and the record says why.
  writeFileSync(join(p.archives, 'broken_1.0_amd64.deb'), 'not a deb');
  const rejected = p.run(['mirror', 'refresh']);
  assert.is(rejected.code, 1, rejected.stderr);
  const some = status(p).lastRefresh;
  assert.ok(some);
  assert.equal([some.ok, some.finished, some.problems], [false, true, 1]);
  assert.match(some.problem ?? '', /^rejected .*broken_1\.0_amd64\.deb: not a valid \.deb/);
  assert.match(p.run(['status']).stdout, `\nlast refresh: ${some.at}, ended with 1 problem(s) after `);
  rmSync(join(p.archives, 'broken_1.0_amd64.deb'));

  // A refresh an error stops: the mirror root is a file now.
  rmSync(p.mirror, { recursive: true, force: true });
  writeFileSync(p.mirror, 'not a directory');
  const failed = p.run(['mirror', 'refresh']);
  assert.is(failed.code, 1, failed.stderr);
  const bad = status(p).lastRefresh;
  assert.ok(bad);
  assert.equal([bad.ok, bad.finished, bad.problems], [false, false, 1]);
  assert.ok(bad.problem && failed.stderr.includes(bad.problem.split('\n')[0] ?? '?'), `${bad.problem} / ${failed.stderr}`);
  assert.match(p.run(['status']).stdout, `last refresh: ${bad.at}, FAILED after `);
  rmSync(p.mirror);

  // A daemon (watch alone) that runs: its pid, its parts; gone again after SIGTERM.
  const child = spawn(process.execPath, [...entry(), '--config', p.cfg, 'watch'], { stdio: ['ignore', 'pipe', 'pipe'], env: cliEnv({ HOME: p.base, NSPAWN_KIT_CONFIG_DIR: join(p.base, 'no-etc') }) });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  try {
    for (let i = 0; i < 300 && !out.includes('daemon-ready'); i++) await new Promise((r) => setTimeout(r, 200));
    assert.match(out, 'daemon-ready');
    const running = status(p).daemon;
    assert.equal(running, { running: true, pid: child.pid, how: 'pid-file', since: running.since, watch: true, schedule: false } as StatusJson['daemon']);
    assert.match(p.run(['status']).stdout, `\ndaemon: running (pid ${child.pid} since ${running.since ?? '?'}, watch)\n`);
  } finally {
    child.kill('SIGTERM');
  }
  assert.is(await exited, 0, out);
  const record = join(p.state, 'mirror', 'daemon.json');
  assert.not.ok(existsSync(record), 'the daemon removes its record when it stops');
  assert.equal(status(p).daemon, { running: false, how });

  // A record left by a killed daemon whose PID now belongs to another process (this one: another start time).
  const left = { version: 1, pid: process.pid, startTime: '1', startedAt: '2026-01-01T00:00:00.000Z', watch: true, schedule: true };
  writeFileSync(record, JSON.stringify(left));
  assert.equal(status(p).daemon, { running: false, how, note: `pid ${process.pid} recorded at 2026-01-01T00:00:00.000Z is gone: that daemon did not stop cleanly` });
  // A link in its place is not followed, even to a record of a live process.
  const live = join(p.base, 'live.json');
  writeFileSync(live, JSON.stringify({ ...left, startTime: readFileSync(`/proc/${process.pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')[19] }));
  rmSync(record);
  symlinkSync(live, record);
  assert.equal(status(p).daemon, { running: false, how, note: `${record}: ELOOP` });
});

test.run();
