/**
 * Issue 14, "It runs on stock Debian 13" and "Proven on a host where systemd
 * is PID 1", end to end, as root, in one temp dir (one warm, one machine: the
 * nested tier reuses what the self-install built).
 *
 * The nspawn-kit .deb (built here by `npm run deb`, or NSPAWN_KIT_TEST_DEB)
 * names what it needs in Depends/Recommends; a local mirror is warmed from
 * deb.debian.org with trixie-minimal's packages plus those (trixie, -updates,
 * -security). A trixie machine built from that mirror (trixie-minimal, with a
 * private network: nothing inside reaches the network) installs the .deb
 * with `apt-get install ./nspawn-kit_*.deb`, the mirror its only source, so
 * nodejs and the rest come from Debian 13 through the mirror; then
 * `nspawn-kit --version`, `doctor --json` and `config` run inside.
 *
 * Then the same machine is booted by nspawn-kit (systemd as PID 1) and, run
 * as its own services: `install-units` (the daemon enabled, started, active,
 * its nightly refresh scheduled), `create` of a trixie-minimal machine from
 * the outer mirror (bound read-only into the machine by its .nspawn file),
 * `machinectl start`, `list`, `stop`. Skipped with the reason where this host
 * cannot run systemd-nspawn inside systemd-nspawn.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Shell } from '../../src/shell.js';
import { resolveRecipe } from '../../src/config/recipes.js';
import type { MirrorContext } from '../../src/mirror/context.js';
import { warmRecipes } from '../../src/mirror/warm.js';
import { stopGpgAgent } from '../../src/mirror/keys.js';
import { createMachine } from '../../src/machine/create.js';
import { bootUntil, type BootUntilReport } from '../../src/machine/provision.js';
import { nspawnPids } from '../../src/machine/boot.js';
import { containerLeader } from '../../src/machine/upgrade-run.js';
import { makeConfig } from '../helpers/config.js';
import { cli, ROOT } from '../helpers/cli.js';
import { removeTestTree } from '../helpers/cleanup.js';
import { debField, noDebBuild, nspawnKitDeb, relationNames, type DebSource } from '../helpers/deb-package.js';
import { inMachine, nestingProblem, systemState, waitFor } from '../helpers/nested.js';

const UPSTREAM = 'http://deb.debian.org/debian';
const reachable = await fetch(`${UPSTREAM}/dists/trixie/InRelease`, { method: 'HEAD', signal: AbortSignal.timeout(20_000) }).then(
  (r) => r.ok,
  () => false,
);
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
/** The package's Debian version, derived from VERSION by the packaging's own rule (0.2.0-rc.1 -> 0.2.0~rc.1). */
const DEB_VERSION = spawnSync(process.execPath, [join(ROOT, 'debian', 'deb-version.mjs')], { encoding: 'utf8' }).stdout.trim();
const SUITES = ['trixie', 'trixie-updates', 'trixie-security'];
const MINIMAL = ['systemd', 'systemd-sysv', 'dbus', 'systemd-resolved'];

const base = mkdtempSync('/var/tmp/nk-e2e-trixie-');
const config = makeConfig(base);
config.mirror.upstreams = { trixie: UPSTREAM };
config.mirror.archives = [];
const logs: string[] = [];
const sh = new Shell({ log: (l) => logs.push(l) });
const ctx: MirrorContext = { sh, config, log: (l) => logs.push(l) };
const root = join(config.machines.dir, 'outer');
const timings: string[] = [];
const timed = async <T>(what: string, fn: () => Promise<T> | T): Promise<T> => {
  const started = Date.now();
  try {
    return await fn();
  } finally {
    timings.push(`${what} ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
};

let source: DebSource = { skip: `${UPSTREAM} is not reachable` };
let deb = '';
const skip = (): boolean => {
  if ('skip' in source) console.log(`  skipped: ${source.skip}`);
  return 'skip' in source;
};

/** The CLI on the host, with this test's mirror and machines (for `run`: the machine's own settings, private network). */
const hostCfg = join(base, 'host.json');
const host = (...args: string[]) => cli(['--config', hostCfg, ...args], { env: { NO_COLOR: '1' } });
/** A command inside the stopped machine, not booted, without a network (its .nspawn file: Private=yes). */
const inside = (...argv: string[]) => host('run', 'outer', '--', ...argv);

/** Installed packages of the machine (name -> version), from its dpkg status. */
function installed(): Map<string, string> {
  const out = new Map<string, string>();
  for (const stanza of readFileSync(join(root, 'var/lib/dpkg/status'), 'utf8').split('\n\n')) {
    const name = /^Package: (.+)$/m.exec(stanza)?.[1];
    const version = /^Version: (.+)$/m.exec(stanza)?.[1];
    if (name && version && /^Status: install ok installed$/m.test(stanza)) out.set(name, version);
  }
  return out;
}

/** Every name=version the mirror publishes in the trixie suites. */
function published(): Set<string> {
  const out = new Set<string>();
  for (const suite of SUITES) {
    const text = readFileSync(join(config.mirror.root, 'dists', suite, 'main', 'binary-amd64', 'Packages'), 'utf8');
    for (const stanza of text.split('\n\n')) {
      const name = /^Package: (.+)$/m.exec(stanza)?.[1];
      const version = /^Version: (.+)$/m.exec(stanza)?.[1];
      if (name && version) out.add(`${name}=${version}`);
    }
  }
  return out;
}

/** The .deb build, settled (its value or its error), so test.after waits for it before removing its directory. */
let building$: Promise<{ value: DebSource } | { error: unknown }> | undefined;
let wanted: string[] = [];
let before = new Map<string, string>();

test.before(async () => {
  if (!reachable) return;
  const noBuild = noDebBuild();
  if (noBuild) return void (source = { skip: noBuild });
  // The build runs while the mirror is warmed and the machine built; settled() keeps its failure for later.
  const building = timed('.deb (beside warm and create)', () => nspawnKitDeb(join(base, 'deb')));
  const settled = (building$ = building.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  ));
  config.recipes = {
    // The machine: trixie-minimal and no network at all (nspawn keeps CAP_NET_ADMIN for its own namespace, which nested --private-network needs).
    'nk-trixie-outer': { extends: 'trixie-minimal', nspawn: { network: 'private' } },
  };
  const outer = resolveRecipe(config, 'nk-trixie-outer');
  assert.equal(outer.suites, SUITES);
  assert.equal(outer.packages, MINIMAL);
  assert.ok((await timed('warm trixie-minimal', () => warmRecipes(ctx, [outer]))).published, 'warm published the mirror');
  await timed('create outer', () => createMachine(ctx, outer, 'outer'));
  before = installed();
  const built = await settled;
  if ('error' in built) throw built.error;
  source = built.value;
  if ('skip' in source) return;
  deb = source.deb;
  assert.is(debField(deb, 'Version'), DEB_VERSION, `the .deb carries package.json version ${VERSION}`);
  // What apt will want from the mirror: the .deb's Depends and Recommends (it installs Recommends by default).
  wanted = [...new Set([...relationNames(debField(deb, 'Depends')), ...relationNames(debField(deb, 'Recommends'))])];
  assert.ok(wanted.includes('nodejs'), `Depends names nodejs: ${wanted.join(', ')}`);
  // Warmed only, into the same mirror: what the .deb needs besides trixie-minimal.
  config.recipes['nk-trixie-deb'] = { extends: 'trixie-minimal', packages: [...MINIMAL, ...wanted] };
  assert.ok((await timed('warm the .deb relations', () => warmRecipes(ctx, [resolveRecipe(config, 'nk-trixie-deb')]))).published, 'warm published the mirror');
  writeFileSync(hostCfg, JSON.stringify({ stateDir: config.stateDir, mirror: { root: config.mirror.root, archives: [], upstreams: config.mirror.upstreams }, machines: config.machines, recipes: config.recipes }));
});

test.after(async () => {
  await building$;
  for (const pid of await nspawnPids(root)) process.kill(pid, 'SIGKILL');
  await stopGpgAgent(ctx).catch(() => undefined);
  await removeTestTree(base);
  if (timings.length) console.log(`  trixie e2e timings: ${timings.join(', ')}`);
});

test('the .deb installs with apt from the local mirror alone, offline: nodejs and every dependency are Debian 13 packages of the mirror', async () => {
  if (skip()) return;
  for (const pkg of ['nodejs', 'debootstrap', 'systemd-container', 'apt-utils', 'gnupg', 'xz-utils']) assert.not.ok(before.has(pkg), `${pkg} is not in the machine before`);
  // No network inside: the machine's .nspawn file gives it a namespace with loopback alone.
  const links = inside('ls', '/sys/class/net');
  assert.is(links.code, 0, links.stderr);
  assert.equal(links.stdout.split(/\s+/).filter(Boolean), ['lo']);
  const target = join(root, 'var/tmp', basename(deb));
  copyFileSync(deb, target);
  // Only the mirror's sources file: the upstream stanzas the machine also has are not read at all.
  const only = ['-o', 'Dir::Etc::SourceList=/etc/apt/sources.list.d/nspawn-kit-mirror.sources', '-o', 'Dir::Etc::SourceParts=-'];
  const update = await timed('apt-get update', () => inside('apt-get', ...only, 'update', '--error-on=any'));
  assert.is(update.code, 0, update.stderr + update.stdout);
  assert.not.match(update.stdout, /http:|https:/);
  const r = await timed('apt-get install ./deb', () => inside('env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', ...only, '-y', 'install', `/var/tmp/${basename(deb)}`));
  assert.is(r.code, 0, r.stderr + r.stdout.slice(-3000));
  const after = installed();
  assert.is(after.get('nspawn-kit'), DEB_VERSION);
  const mirror = published();
  for (const pkg of wanted) {
    const version = after.get(pkg);
    assert.ok(version, `${pkg} (Depends/Recommends) is installed`);
    assert.ok(mirror.has(`${pkg}=${version}`), `${pkg} ${version} is the mirror's`);
  }
  // Every package apt added is one the mirror publishes, in that version: nothing came from elsewhere.
  for (const [pkg, version] of after) if (!before.has(pkg) && pkg !== 'nspawn-kit') assert.ok(mirror.has(`${pkg}=${version}`), `${pkg} ${version} is the mirror's`);
  assert.match(after.get('nodejs') ?? '', /^20\./);
  assert.match(after.get('nodejs') ?? '', /deb13/);
});

test('inside: nspawn-kit --version is package.json version, doctor --json finds every required tool, config exits 0', async () => {
  if (skip()) return;
  const started = Date.now();
  const which = inside('sh', '-c', 'command -v nspawn-kit');
  assert.is(which.stdout.trim(), '/usr/bin/nspawn-kit', which.stderr);
  const version = inside('nspawn-kit', '--version');
  assert.is(version.code, 0, version.stderr);
  assert.is(version.stdout.trim(), VERSION);
  const doctor = inside('nspawn-kit', 'doctor', '--json');
  assert.is(doctor.code, 0, doctor.stderr);
  const report = JSON.parse(doctor.stdout) as { root: boolean; missingRequired: string[]; tools: Array<{ tool: string; optional: boolean; found: boolean; path?: string }> };
  assert.is(report.root, true);
  assert.equal(report.missingRequired, []);
  const required = report.tools.filter((t) => !t.optional);
  assert.equal(required.map((t) => t.tool).sort(), ['apt-ftparchive', 'debootstrap', 'dpkg-deb', 'gpg', 'systemd-nspawn', 'xz']);
  for (const t of required) assert.ok(t.found && t.path?.startsWith('/usr/'), `${t.tool}: ${JSON.stringify(t)}`);
  const cfg = inside('nspawn-kit', 'config');
  assert.is(cfg.code, 0, cfg.stderr);
  const shown = JSON.parse(cfg.stdout) as { file?: string; recipes: Record<string, string> };
  assert.is(shown.file, '/etc/nspawn-kit/config.json', 'the package\'s conffile is the configuration');
  assert.is(shown.recipes['trixie-minimal'], '/usr/share/nspawn-kit/recipes/trixie-minimal.json');
  assert.is(shown.recipes['bookworm-minimal'], '/usr/share/nspawn-kit/recipes/bookworm-minimal.json');
  timings.push(`the three commands inside ${((Date.now() - started) / 1000).toFixed(1)} s`);
});

// The nested tier: the system configuration inside, as an admin edits the package's conffile (the outer mirror where the machine's .nspawn binds it, read-only).
const NESTED_CONFIG = '/etc/nspawn-kit/config.json';
const MIRROR_INSIDE = '/var/local/nspawn-kit-mirror';

test('nested (systemd as PID 1): install-units runs the daemon; a machine built from the outer mirror starts, is listed and stops with machinectl', async () => {
  if (skip()) return;
  const started = Date.now();
  writeFileSync(join(root, NESTED_CONFIG.slice(1)), JSON.stringify({ mirror: { root: MIRROR_INSIDE, archives: [], upstreams: { trixie: UPSTREAM } } }), { mode: 0o644 });
  // No --config: nspawn-kit finds its configuration in /etc/nspawn-kit itself.
  const nk = (...args: string[]) => ['nspawn-kit', ...args];
  let finished = false;
  const booted: Promise<BootUntilReport> = bootUntil({ sh, config }, 'outer', { timeoutMs: 900_000, done: async () => finished });
  let report: BootUntilReport | undefined;
  try {
    let leader: number | undefined;
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline && (leader = await containerLeader(root)) === undefined) await new Promise((r) => setTimeout(r, 500));
    if (leader === undefined) throw new Error('the machine did not start within 120 s');
    const pid1 = leader;
    assert.is(await timed('boot outer', () => systemState(pid1)), 'running', inMachine(pid1, ['systemctl', '--failed', '--no-legend']).stdout);
    const problem = nestingProblem(pid1);
    if (problem) return console.log(`  skipped the nested tier: ${problem}`);

    const units = inMachine(pid1, nk('install-units'));
    assert.is(units.code, 0, units.stderr + units.stdout);
    assert.match(units.stdout, 'wrote /etc/systemd/system/nspawn-kit-daemon.service');
    const unit = readFileSync(join(root, 'etc/systemd/system/nspawn-kit-daemon.service'), 'utf8');
    assert.match(unit, /^ExecStart=\/usr\/bin\/node(js)? \/usr\/share\/nspawn-kit\/dist\/cli\.js --config \/etc\/nspawn-kit\/config\.json daemon$/m);
    assert.match(unit, 'ReadWritePaths=-/var/lib/nspawn-kit -/var/local/nspawn-kit-mirror\n');
    assert.is(inMachine(pid1, ['systemctl', 'is-enabled', 'nspawn-kit-daemon.service']).stdout.trim(), 'enabled');
    assert.is(inMachine(pid1, ['systemctl', 'is-active', 'nspawn-kit-daemon.service']).stdout.trim(), 'active');
    // The nightly refresh: scheduled by the daemon itself (node-cron) where systemd runs it; its log says when.
    let journal = '';
    assert.ok(
      await waitFor(() => /schedule-ready expression="17 3 \* \* \*".* next=\S+/.test((journal = inMachine(pid1, ['journalctl', '--no-pager', '-o', 'cat', '-u', 'nspawn-kit-daemon.service']).stdout)), 60_000),
      journal,
    );
    const next = Date.parse(/schedule-ready .* next=(\S+)/.exec(journal)?.[1] ?? '');
    assert.ok(next > Date.now() && next <= Date.now() + 24 * 3600_000, `next run ${new Date(next).toISOString()} within a day`);
    assert.match(journal, /daemon-ready watch=true schedule=true/);

    const create = await timed('nested create', () => inMachine(pid1, nk('create', 'trixie-minimal', '--name', 'inner')));
    assert.is(create.code, 0, create.stderr + create.stdout.slice(-3000));
    const settings = readFileSync(join(root, 'etc/systemd/nspawn/inner.nspawn'), 'utf8');
    assert.match(settings, '[Network]\nPrivate=no\nVirtualEthernet=no\n');
    assert.match(settings, `BindReadOnly=${MIRROR_INSIDE}:${MIRROR_INSIDE}`);

    const start = inMachine(pid1, ['machinectl', 'start', 'inner']);
    assert.is(start.code, 0, start.stderr);
    const state = () => inMachine(pid1, ['machinectl', 'show', 'inner', '--property=State', '--value']).stdout.trim();
    assert.ok(await waitFor(() => state() === 'running', 60_000), inMachine(pid1, ['journalctl', '--no-pager', '-n', '30', '-u', 'systemd-nspawn@inner.service']).stdout);
    assert.match(inMachine(pid1, ['machinectl', 'list', '--no-legend', '--no-pager']).stdout, /^inner\s+container\s+systemd-nspawn\s+debian\s+13\b/m);
    // The inner machine's first boot updates apt from the outer mirror through its read-only bind.
    // Read inside: an inner overlay machine is mounted in the outer machine's mount namespace only.
    let marker = '';
    const readMarker = () => (marker = inMachine(pid1, ['cat', '/var/lib/machines/inner/var/lib/nspawn-kit/firstboot.json']).stdout) !== '';
    assert.ok(await waitFor(readMarker, 120_000), 'the inner first boot finished');
    assert.is((JSON.parse(marker) as { status: string }).status, 'success');
    const listed = inMachine(pid1, nk('list'));
    assert.is(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /^inner\s+trixie-minimal\s+trixie\s.*\brunning$/m);

    const stop = inMachine(pid1, ['machinectl', 'stop', 'inner']);
    assert.is(stop.code, 0, stop.stderr);
    assert.ok(await waitFor(() => inMachine(pid1, ['systemctl', 'is-active', 'systemd-nspawn@inner.service']).stdout.trim() === 'inactive', 60_000), 'stopped');
    assert.not.match(inMachine(pid1, ['machinectl', 'list', '--no-legend', '--no-pager']).stdout, /^inner\b/m);
    assert.match(inMachine(pid1, nk('list')).stdout, /^inner\s+trixie-minimal\s+trixie\s.*\bstopped$/m);
  } finally {
    finished = true;
    report = await booted;
  }
  assert.is(report.ended, 'done', report.console.slice(-20).join('\n'));
  assert.is((await nspawnPids(root)).length, 0, 'the machine stopped again');
  timings.push(`nested tier ${((Date.now() - started) / 1000).toFixed(1)} s`);
});

test.run();
