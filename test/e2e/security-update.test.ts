/**
 * Issue 13's first "done when", end to end, as root, in a temp dir: a machine
 * (bookworm-minimal plus a small package made here, nk-probe 1.0, with update
 * suites) is built from a mirror published at one point (warmed from
 * deb.debian.org); then nk-probe 1.1 is signed into bookworm-security, and
 * `list` reports 1 security update for that machine (`--json` names it),
 * `upgrade` installs it with no network (upstreams 127.0.0.1:9, and nspawn
 * without a network), `list` then reports 0, and the provenance names the new
 * publication. Then the same inside the running machine (nsenter), and a
 * machine already up to date says so.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Shell } from '../../src/shell.js';
import { resolveRecipe } from '../../src/config/recipes.js';
import type { MirrorContext } from '../../src/mirror/context.js';
import { warmRecipes } from '../../src/mirror/warm.js';
import { importFiles } from '../../src/mirror/import.js';
import { publishMirror } from '../../src/mirror/publish.js';
import { stopGpgAgent } from '../../src/mirror/keys.js';
import { createMachine } from '../../src/machine/create.js';
import { provisionMachine, bootUntil } from '../../src/machine/provision.js';
import { nspawnPids } from '../../src/machine/boot.js';
import { listMachines } from '../../src/machine/list.js';
import { upgradeMachine, type UpgradeReport } from '../../src/machine/upgrade.js';
import { containerLeader } from '../../src/machine/upgrade-run.js';
import { makeConfig } from '../helpers/config.js';
import { makeDeb } from '../helpers/debs.js';
import { cli } from '../helpers/cli.js';
import { removeTestTree } from '../helpers/cleanup.js';

const UPSTREAM = 'http://deb.debian.org/debian';
const reachable = await fetch(`${UPSTREAM}/dists/bookworm/InRelease`, { method: 'HEAD', signal: AbortSignal.timeout(20_000) }).then(
  (r) => r.ok,
  () => false,
);
const skip = (): boolean => {
  if (!reachable) console.log(`  skipped: ${UPSTREAM} is not reachable`);
  return !reachable;
};

const SUITES = ['bookworm', 'bookworm-updates', 'bookworm-security'];
const RECIPE = { extends: 'bookworm-minimal', updates: true, packages: ['systemd', 'systemd-sysv', 'dbus', 'systemd-resolved', 'nk-probe'] };
const base = mkdtempSync(join('/var/tmp', 'nk-e2e-sec-'));
const config = makeConfig(base, { recipes: { 'nk-sec': RECIPE } });
config.mirror.upstreams = { bookworm: UPSTREAM };
const logs: string[] = [];
const sh = new Shell({ log: (l) => logs.push(l) });
const ctx: MirrorContext = { sh, config, log: (l) => logs.push(l) };
const settingsDir = join(base, 'nspawn-settings');
const root = join(config.machines.dir, 'sec');
const debs = join(base, 'debs');

/** The CLI with a configuration whose every upstream answers nothing: whatever runs, it cannot download. */
const offlineCfg = join(base, 'offline.json');
const dead = 'http://127.0.0.1:9/debian';
writeFileSync(
  offlineCfg,
  JSON.stringify({
    stateDir: config.stateDir,
    mirror: { root: config.mirror.root, archives: [], upstreams: { bookworm: dead, 'bookworm-updates': dead, 'bookworm-security': 'http://127.0.0.1:9/debian-security' } },
    machines: config.machines,
    recipes: { 'nk-sec': RECIPE },
  }),
);
const run = (...args: string[]) => cli(['--config', offlineCfg, ...args], { env: { NO_COLOR: '1' } });

const inRelease = (suite: string) => createHash('sha256').update(readFileSync(join(config.mirror.root, 'dists', suite, 'InRelease'))).digest('hex');
const provenance = () => JSON.parse(readFileSync(join(root, 'var/lib/nspawn-kit/provenance.json'), 'utf8')) as { suites?: Record<string, string>; upgradedAt?: string; builtAt: string };

/** nk-probe VERSION (arch all, no maintainer script), signed into the given suites. */
async function publishProbe(version: string, suites: string[]): Promise<void> {
  const deb = makeDeb(debs, { name: 'nk-probe', version, arch: 'all' });
  const report = await importFiles(ctx, suites.map((codename) => ({ path: deb, codename })), { noCache: true, importer: 'native' });
  assert.equal(report.rejected, [], JSON.stringify(report.rejected));
  await publishMirror(ctx);
}

/** The machine's installed version of nk-probe, from its dpkg status (dpkg-query inside would need a boot or a run). */
function installedProbe(): string | undefined {
  const status = readFileSync(join(root, 'var/lib/dpkg/status'), 'utf8');
  const stanza = status.split('\n\n').find((s) => /^Package: nk-probe$/m.test(s) && /^Status: install ok installed$/m.test(s));
  return stanza?.match(/^Version: (.*)$/m)?.[1];
}

test.before(async () => {
  if (!reachable) return;
  const recipe = resolveRecipe(config, 'nk-sec');
  assert.equal(recipe.suites, SUITES);
  // The mirror at one point: the recipe's closure from Debian, then nk-probe 1.0 (in every suite, so each is published).
  const warmed = await warmRecipes(ctx, [{ ...recipe, packages: recipe.packages.filter((p) => p !== 'nk-probe') }]);
  assert.ok(warmed.published, 'warm published the mirror');
  await publishProbe('1.0', SUITES);
  const report = await createMachine(ctx, recipe, 'sec', { settingsDir });
  assert.is(report.root, root);
  const first = await provisionMachine(ctx, 'sec', { timeoutMs: 300_000 });
  assert.is(first.result.status, 'success', first.logTail);
  assert.is(installedProbe(), '1.0');
});

test.after(async () => {
  for (const pid of await nspawnPids(root)) process.kill(pid, 'SIGKILL');
  await stopGpgAgent(ctx).catch(() => undefined);
  await removeTestTree(base);
});

test('built from the publication of the day: list reports no update', async () => {
  if (skip()) return;
  const [m] = await listMachines({ sh, config }, { sizes: false });
  assert.is(m?.name, 'sec');
  assert.equal([m?.updates?.upgradable, m?.updates?.security, m?.updates?.suites], [0, 0, SUITES], JSON.stringify(m?.updateProblems));
  assert.is(m?.updateProblems, undefined);
});

test('nk-probe 1.1 signed into bookworm-security: list reports 1 security update, --json names it', async () => {
  if (skip()) return;
  await publishProbe('1.1', ['bookworm-security']);
  const [m] = await listMachines({ sh, config }, { sizes: false });
  assert.equal([m?.updates?.upgradable, m?.updates?.security], [1, 1]);
  const plain = run('list');
  assert.is(plain.code, 0, plain.stderr);
  assert.match(plain.stdout, /^sec\s+nk-sec\s+bookworm\s+[0-9a-f]{12}\s+1 \(1 security\)\s/m);
  const json = run('--json', 'list');
  assert.is(json.code, 0, json.stderr);
  const [sec] = JSON.parse(json.stdout) as Array<{ name: string; updates: { upgradable: number; security: number; packages: unknown[] } }>;
  assert.equal(sec?.updates.packages, [{ name: 'nk-probe', architecture: 'all', installed: '1.0', candidate: '1.1', suite: 'bookworm-security', security: true }]);
});

test('upgrade sec installs it with no network; list then reports 0; the provenance names the new publication', async () => {
  if (skip()) return;
  const before = provenance();
  const dry = run('--dry-run', 'upgrade', 'sec');
  assert.is(dry.code, 0, dry.stderr);
  assert.match(dry.stderr + dry.stdout, /\[dry-run\] systemd-nspawn .*--private-network .*nspawn-kit-upgrade \/var\/lib\/nspawn-kit\/upgrade\.sources/);
  assert.is(installedProbe(), '1.0', 'a dry run changes nothing');

  const r = run('upgrade', 'sec');
  assert.is(r.code, 0, r.stderr + r.stdout);
  assert.equal(r.stdout.trim().split('\n'), ['sec: upgraded 1 package(s) from bookworm, bookworm-updates, bookworm-security (not booted, offline):', '  nk-probe:all 1.0 -> 1.1']);
  assert.is(installedProbe(), '1.1');
  const [m] = await listMachines({ sh, config }, { sizes: false });
  assert.equal([m?.updates?.upgradable, m?.updates?.security], [0, 0]);
  const after = provenance();
  assert.equal(after.suites, { bookworm: inRelease('bookworm'), 'bookworm-updates': inRelease('bookworm-updates'), 'bookworm-security': inRelease('bookworm-security') });
  assert.is.not(before.suites?.['bookworm-security'], inRelease('bookworm-security'));
  assert.ok(after.upgradedAt && Date.parse(after.upgradedAt) > Date.parse(after.builtAt), JSON.stringify(after));
  // apt in the machine still has only the mirror's signed sources (the upgrade's own file is gone).
  assert.not.ok(readFileSync(join(root, 'etc/apt/sources.list.d/nspawn-kit-mirror.sources'), 'utf8').match(/trusted/i));
  const again = run('upgrade', 'sec');
  assert.is(again.code, 0, again.stderr);
  assert.is(again.stdout.trim(), 'sec: already up to date');
});

test('inside the running machine (--inside: no private users): nsenter into its leader with fewer capabilities, nk-probe 1.2 from bookworm-security', async () => {
  if (skip()) return;
  await publishProbe('1.2', ['bookworm-security']);
  let report: UpgradeReport | undefined;
  let failure: unknown;
  let refused = '';
  // Upgrade once the machine is up: `done` is polled from the moment nspawn starts, so it waits for
  // the console's multi-user line itself (untilLine alone only ends the wait, it does not gate done).
  let up = false;
  const boot = await bootUntil({ sh, config }, 'sec', {
    onLine: (line) => {
      if (/Reached target.*Multi-User System/.test(line)) up = true;
    },
    timeoutMs: 180_000,
    done: async () => {
      if (!up || (await containerLeader(root)) === undefined) return false;
      // Without private users, entering needs the explicit --inside (the refusal changes nothing).
      refused = await upgradeMachine({ sh, config }, 'sec').then(
        () => '',
        (err: Error) => err.message,
      );
      try {
        report = await upgradeMachine({ sh, config }, 'sec', { inside: true });
      } catch (err) {
        failure = err;
      }
      return true;
    },
  });
  assert.is(failure, undefined, String(failure));
  assert.is(boot.ended, 'done', boot.console.slice(-20).join('\n'));
  assert.match(refused, /machine sec is running without private users: upgrading it from inside would run its own apt/);
  assert.is(report?.how, 'nsenter');
  assert.equal(report?.changes, [{ name: 'nk-probe', architecture: 'all', from: '1.1', to: '1.2' }], `${JSON.stringify(report)}; installed now: ${installedProbe()}`);
  assert.is(installedProbe(), '1.2');
  assert.is(provenance().suites?.['bookworm-security'], inRelease('bookworm-security'));
  assert.is((await nspawnPids(root)).length, 0, 'stopped again');
  const all = run('upgrade', '--all');
  assert.is(all.code, 0, all.stderr);
  assert.is(all.stdout.trim(), 'sec: already up to date');
});

test.run();
