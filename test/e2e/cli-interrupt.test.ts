/**
 * Issue 15's "done when": a Ctrl-C test shows no orphaned child process after
 * `mirror warm` and `create`, with the real tools. The command runs in a
 * session of its own and its node process ALONE is signalled (as systemd or
 * `kill` would); afterwards no process may be left in that session, carrying
 * the run's token in its environment, or naming the test's directory
 * (test/helpers/interrupt.ts):
 * - `mirror warm` against deb.debian.org, SIGTERM once apt-get's http method
 *   (a grandchild) runs: exit 143;
 * - after a full warm, `create` SIGINTed once debootstrap runs dpkg (a
 *   grandchild, chroot'd into the build dir): exit 130, the build dir
 *   removed, no machine, the publication intact.
 * Skipped, saying so, without deb.debian.org or debootstrap.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli } from '../helpers/cli.js';
import { interrupt } from '../helpers/interrupt.js';
import { removeTestTree } from '../helpers/cleanup.js';
import { which } from '../../src/host/tool-path.js';

const UPSTREAM = 'http://deb.debian.org/debian';
const reachable = await fetch(`${UPSTREAM}/dists/bookworm/InRelease`, { method: 'HEAD', signal: AbortSignal.timeout(20_000) }).then(
  (r) => r.ok,
  () => false,
);
const haveDebootstrap = which('debootstrap') !== undefined;

// /var/tmp: not a tmpfs, room for the warmed mirror.
const base = mkdtempSync('/var/tmp/nk-interrupt-e2e-');
const machines = join(base, 'machines');
const recipes = join(base, 'recipes');
const mirrorRoot = join(base, 'mirror');
const cfg = join(base, 'nspawnrc.json');
mkdirSync(machines);
mkdirSync(recipes);
mkdirSync(join(base, 'archives'));
writeFileSync(
  cfg,
  JSON.stringify({
    stateDir: join(base, 'state'),
    recipeDirs: [recipes],
    mirror: { root: mirrorRoot, archives: [{ path: join(base, 'archives'), codename: 'bookworm' }], upstreams: { bookworm: UPSTREAM } },
    machines: { dir: machines, settingsDir: join(base, 'nspawn'), unitDir: join(base, 'units') },
  }),
);
// The release alone, minbase only: the smallest real warm and bootstrap.
writeFileSync(join(recipes, 'tiny.json'), JSON.stringify({ extends: 'bookworm-minimal', updates: false, packages: [], hostname: 'tiny' }));

test.after(() => removeTestTree(base));

if (!reachable || !haveDebootstrap) {
  test(`SKIPPED: ${!reachable ? `${UPSTREAM} is not reachable` : 'debootstrap is not installed'}`, () => {
    console.log(`\n  cli-interrupt e2e SKIPPED: ${!reachable ? `${UPSTREAM} is not reachable` : 'debootstrap is not installed'}`);
  });
} else {
  test('mirror warm, SIGTERM while apt-get downloads: apt-get and its methods stopped, exit 143', async () => {
    const r = await interrupt(['--config', cfg, 'mirror', 'warm', 'tiny'], { dir: base, signal: 'SIGTERM', waitFor: '/usr/lib/apt/methods/', timeoutMs: 300_000 });
    const ctx = `stderr:\n${r.stderr}`;
    assert.ok(r.before.some((p) => p.cmdline.startsWith('/usr/lib/apt/methods/')), `an apt method (a grandchild) ran before the signal\n${ctx}`);
    assert.equal(r.after, [], `nothing left running\n${ctx}`);
    assert.is(r.code, 143, ctx);
    assert.match(r.stderr, 'nspawn-kit: SIGTERM: stopping child processes');
  });

  test('create, SIGINT while debootstrap runs dpkg: everything stopped, the build dir removed, exit 130', async () => {
    const warmed = cli(['--config', cfg, 'mirror', 'warm', 'tiny'], { cwd: base, timeoutMs: 1_200_000 });
    assert.is(warmed.code, 0, warmed.stderr);
    const inRelease = join(mirrorRoot, 'dists', 'bookworm', 'InRelease');
    const published = readFileSync(inRelease, 'utf8');
    const r = await interrupt(['--config', cfg, 'create', 'tiny', '--name', 'k1'], { dir: base, signal: 'SIGINT', waitFor: 'dpkg', timeoutMs: 600_000 });
    const ctx = `stderr:\n${r.stderr}`;
    assert.ok(r.before.some((p) => p.cmdline.includes('debootstrap')), `debootstrap ran before the signal\n${ctx}`);
    assert.equal(r.after, [], `nothing left running\n${ctx}`);
    assert.is(r.code, 130, ctx);
    assert.match(r.stderr, 'nspawn-kit: SIGINT: stopping child processes, removing unfinished builds');
    assert.equal(readdirSync(machines), [], 'no build dir, no machine');
    assert.is(readFileSync(inRelease, 'utf8'), published, 'the publication is intact');
  });
}

test.run();
