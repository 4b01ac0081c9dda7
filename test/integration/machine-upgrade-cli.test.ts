/**
 * `nspawn-kit upgrade` through the CLI on fake machines (roots made here, a
 * mirror published with the real publish): the usage rules, the dry-run plan
 * (the exact non-booted, networkless systemd-nspawn and the sources apt gets),
 * the refusals that change nothing, --all going on past failures, and a running machine (a
 * process standing for one) whose plan is the one nsenter command: no host write in its root.
 * The real upgrade (debootstrap, apt, dpkg) is test/e2e/security-update.test.ts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Shell } from '../../src/shell.js';
import type { MirrorContext } from '../../src/mirror/context.js';
import { mirrorLayout, poolRelativePath, suiteListPath } from '../../src/mirror/layout.js';
import { publishMirror } from '../../src/mirror/publish.js';
import { stopGpgAgent } from '../../src/mirror/keys.js';
import { writeProvenance } from '../../src/machine/provenance.js';
import { makeConfig } from '../helpers/config.js';
import { makeDeb } from '../helpers/debs.js';
import { provenanceRecord } from '../helpers/records.js';
import { cli } from '../helpers/cli.js';
import { snapshotContents } from '../helpers/tree.js';
import { containerLeader } from '../../src/machine/upgrade-run.js';

const base = mkdtempSync(join(tmpdir(), 'nk-upgrade-cli-'));
const config = makeConfig(base);
const sh = new Shell({ log: () => {} });
const ctx: MirrorContext = { sh, config, log: () => {} };
const layout = mirrorLayout(config);
const cfg = join(base, 'nspawnrc.json');
const run = (...args: string[]) => cli(['--config', cfg, ...args], { env: { NO_COLOR: '1' } });

async function machine(name: string, suites: string[] | undefined): Promise<string> {
  const root = join(config.machines.dir, name);
  mkdirSync(join(root, 'etc'), { recursive: true });
  mkdirSync(join(root, 'var/lib/dpkg'), { recursive: true });
  writeFileSync(join(root, 'var/lib/dpkg/status'), 'Package: hello\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0-1\n');
  if (suites) await writeProvenance(sh, root, provenanceRecord({ machine: name, suites: Object.fromEntries(suites.map((s) => [s, 'c'.repeat(64)])) }));
  return root;
}

test.before(async () => {
  for (const [suite, version] of [['bookworm', '1.0-1'], ['bookworm-security', '1.0-1+deb12u1']] as const) {
    const rel = poolRelativePath({ name: 'hello', version, architecture: 'amd64' });
    mkdirSync(dirname(join(layout.root, rel)), { recursive: true });
    copyFileSync(makeDeb(join(base, 'debs'), { name: 'hello', version }), join(layout.root, rel));
    mkdirSync(layout.suites, { recursive: true });
    writeFileSync(suiteListPath(layout, suite), `${rel}\n`);
  }
  await publishMirror(ctx);
  // publish signs the whole family, the empty -updates too; take it away again, as on a mirror
  // published before update suites existed, so the warning path below is exercised.
  rmSync(join(layout.dists, 'bookworm-updates'), { recursive: true });
  writeFileSync(cfg, JSON.stringify({ stateDir: config.stateDir, mirror: { root: config.mirror.root, archives: [] }, machines: config.machines }));
  // -updates is not published: upgraded from the other two, with a warning.
  await machine('web', ['bookworm', 'bookworm-updates', 'bookworm-security']);
  await machine('web2', ['bookworm']);
  await machine('stray', undefined);
});

let fake: ChildProcess | undefined;
let fakeLeader: number | undefined;

test.after(async () => {
  // unshare --kill-child takes its child along; the leader is killed by its pid too.
  // Either may be gone already (ESRCH): the test's end, not a failure.
  for (const pid of [fake?.pid, fakeLeader]) {
    if (pid === undefined) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }
  await stopGpgAgent(ctx);
  await sh.remove(base);
});

test('usage: a NAME or --all, not both, not neither; a bad name', () => {
  for (const args of [['upgrade'], ['upgrade', 'web', '--all']]) {
    const r = run(...args);
    assert.is(r.code, 2, r.stderr);
    assert.match(r.stderr, /give a machine NAME or --all \(not both\)/);
  }
  const bad = run('upgrade', '../etc');
  assert.is.not(bad.code, 0);
  assert.is(bad.stdout, '');
});

test('--dry-run: the exact offline nspawn and the sources file it would write; nothing changes', () => {
  const snap = () => [...snapshotContents(config.machines.dir), ...snapshotContents(config.mirror.root)];
  const before = snap();
  const r = run('--dry-run', 'upgrade', 'web');
  assert.is(r.code, 0, r.stderr);
  const root = join(config.machines.dir, 'web');
  const out = r.stderr + r.stdout;
  assert.ok(out.includes(`[dry-run] systemd-nspawn --register=no --keep-unit --quiet --private-network --directory=${root} --machine=web --bind-ro=${config.mirror.root}:/var/local/nspawn-kit-mirror --setenv=DEBIAN_FRONTEND=noninteractive -- /bin/sh -c `), out);
  assert.ok(out.includes(' nspawn-kit-upgrade /var/lib/nspawn-kit/upgrade.sources'), out);
  assert.match(out, /\[dry-run\] write .*var\/lib\/nspawn-kit\/upgrade\.sources/);
  assert.match(r.stdout, /^web: dry run, nothing upgraded$/m);
  assert.match(r.stdout, /^web: warning: suite bookworm-updates is not published in the mirror: not upgraded from$/m);
  assert.equal(snap(), before);
});

test('a machine without provenance is refused, naming why; --all goes on past failures and exits 1', () => {
  const stray = run('upgrade', 'stray');
  assert.is(stray.code, 1, stray.stderr);
  assert.match(stray.stderr, /machine stray has no provenance record \(\/var\/lib\/nspawn-kit\/provenance\.json\)/);
  const before = readFileSync(join(config.machines.dir, 'web/var/lib/nspawn-kit/provenance.json'), 'utf8');
  // web and web2 are no OS trees: systemd-nspawn refuses each; the first failure does not stop the second.
  // (stray, without provenance, is no machine of nspawn-kit's: `list` and --all leave it out.)
  const all = run('upgrade', '--all');
  assert.is(all.code, 1, all.stderr);
  assert.match(all.stderr, /^nspawn-kit: web: upgrade failed: .*systemd-nspawn .*--machine=web .*\n.*doesn't look like it has an OS tree/m);
  assert.match(all.stderr, /^nspawn-kit: web2: upgrade failed: .*systemd-nspawn .*--machine=web2 /m);
  assert.not.match(all.stderr, /stray/);
  assert.is(readFileSync(join(config.machines.dir, 'web/var/lib/nspawn-kit/provenance.json'), 'utf8'), before, 'a failed upgrade records nothing');
  assert.not.ok(existsSync(join(config.machines.dir, 'web/var/lib/nspawn-kit/upgrade.sources')), 'the sources file is removed after a failure too');
});

/**
 * A "running" machine without nspawn: a process shown as `systemd-nspawn --directory=<root>`
 * (util-linux unshare with that argv[0]) whose child, in a new PID namespace, chroots into the
 * root and sleeps (Debian's /usr/bin/python3, not whatever shim PATH finds first): to the host it is a machine's leader, its root holding the mirror's InRelease.
 */
async function fakeRunning(name: string): Promise<{ root: string; leader: number }> {
  const root = await machine(name, ['bookworm', 'bookworm-updates', 'bookworm-security']);
  const mirrored = join(root, 'var/local/nspawn-kit-mirror/dists/bookworm');
  mkdirSync(mirrored, { recursive: true });
  copyFileSync(join(layout.dists, 'bookworm/InRelease'), join(mirrored, 'InRelease'));
  const code = 'import os,sys,time; os.chroot(sys.argv[1].split("=",1)[1]); os.chdir("/"); print("up", flush=True); time.sleep(600)';
  fake = spawn('unshare', ['--pid', '--fork', '--kill-child', '/usr/bin/python3', '-c', code, `--directory=${root}`], { argv0: 'systemd-nspawn', stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    fake?.stdout?.once('data', () => resolve());
    fake?.once('exit', (c) => reject(new Error(`the fake machine exited (${c})`)));
  });
  fake.stdout?.resume(); // drained, not closed: a closed pipe kills the fake with BrokenPipeError
  const leader = await containerLeader(root);
  assert.ok(leader !== undefined, 'the fake machine has a leader');
  fakeLeader = leader;
  return { root, leader };
}

test('a running machine: the host plans the one setpriv/nsenter command, with the sources and provenance as arguments; no host write, mkdir or removal in its root', async () => {
  const { root, leader } = await fakeRunning('live');
  const snap = () => snapshotContents(root);
  const before = snap();
  // No private users: refused without --inside, nothing planned.
  const refused = run('--dry-run', 'upgrade', 'live');
  assert.is(refused.code, 1, refused.stderr);
  assert.match(refused.stderr, /machine live is running without private users/);
  assert.not.match(refused.stderr, /\[dry-run\]/);
  const r = run('--dry-run', 'upgrade', '--inside', 'live');
  assert.is(r.code, 0, r.stderr);
  const plan = (r.stderr + r.stdout).split('\n').filter((l) => l.includes('[dry-run]'));
  assert.is(plan.length, 1, plan.join('\n'));
  assert.ok(plan[0]?.startsWith(`[dry-run] setpriv --no-new-privs --bounding-set=`), plan[0]);
  assert.ok(plan[0]?.includes(` -- nsenter --target=${leader} --all --root --wd -- /usr/bin/env -i `), plan[0]);
  // The script's arguments: the provenance path, the sources text, the new provenance (naming this machine).
  assert.ok(plan[0]?.includes(` nspawn-kit-upgrade /var/lib/nspawn-kit/provenance.json $'# Written by nspawn-kit upgrade`), plan[0]);
  assert.match(plan[0] ?? '', /Suites: bookworm bookworm-security\\n/);
  assert.match(plan[0] ?? '', /"machine": "live"/);
  assert.not.ok(plan[0]?.includes(root), 'no host path of the root in the plan');
  assert.match(r.stdout, /^live: dry run, nothing upgraded$/m);
  assert.equal(snap(), before);
});

test.run();
