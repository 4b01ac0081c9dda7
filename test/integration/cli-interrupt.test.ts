/**
 * Ctrl-C or SIGTERM during a command stops EVERY child process of it (issue
 * 15). A fake slow apt-get / debootstrap on PATH (forking a grandchild that
 * loops forever) stands for the real tools; the command runs in a session of
 * its own, and its node process ALONE is signalled, as systemd or `kill`
 * would (a terminal's Ctrl-C would reach the whole foreground group; this is
 * the harder case). Afterwards no process may be left in that session,
 * carrying the run's token in its environment, or naming the test's
 * directory; the exit code is 128 + N; the previous publication is intact and
 * no build dir or machine is left behind.
 * Covered: `mirror warm`, `create`, a task script (tasks/cache-warming.mjs)
 * and a hook (hooks/nightly-refresh.mjs), each with SIGINT and SIGTERM.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from '../helpers/cli.js';
import { makeDeb } from '../helpers/debs.js';
import { interrupt, slowTools, type Interrupted } from '../helpers/interrupt.js';
import { removeTestTree } from '../helpers/cleanup.js';

const base = mkdtempSync(join(tmpdir(), 'nk-interrupt-'));
const archives = join(base, 'archives');
const recipes = join(base, 'recipes');
const machines = join(base, 'machines');
const mirrorRoot = join(base, 'mirror');
const cfg = join(base, 'nspawnrc.json');
mkdirSync(archives);
mkdirSync(recipes);
mkdirSync(machines);
writeFileSync(
  cfg,
  JSON.stringify({
    stateDir: join(base, 'state'),
    recipeDirs: [recipes],
    mirror: { root: mirrorRoot, archives: [{ path: archives, codename: 'bookworm' }] },
    machines: { dir: machines, settingsDir: join(base, 'nspawn'), unitDir: join(base, 'units') },
  }),
);
// The release alone: warm runs apt-get for bookworm first; create bootstraps from the published bookworm.
writeFileSync(join(recipes, 'slowpoke.json'), JSON.stringify({ extends: 'bookworm-minimal', updates: false, hostname: 'slowpoke' }));
const tools = slowTools(base, ['apt-get', 'debootstrap']);

// A previous publication: it must come through every interrupt byte for byte.
makeDeb(archives, { name: 'kept', version: '1.0' });
const imported = cli(['--config', cfg, 'mirror', 'import'], { cwd: base });
const published = imported.code === 0 ? cli(['--config', cfg, 'mirror', 'publish'], { cwd: base }) : imported;
const inRelease = join(mirrorRoot, 'dists', 'bookworm', 'InRelease');
const snapshot = () => ({ inRelease: readFileSync(inRelease, 'utf8'), dists: readdirSync(join(mirrorRoot, 'dists')).sort().map((d) => `${d} -> ${safeReadlink(join(mirrorRoot, 'dists', d))}`) });
function safeReadlink(p: string): string {
  try {
    return readlinkSync(p);
  } catch {
    return '(not a link)';
  }
}
const before = published.code === 0 ? snapshot() : undefined;

test.after(() => removeTestTree(base));

test('the fixture: a published bookworm with the one package', () => {
  assert.is(published.code, 0, published.stderr);
  assert.ok(before?.inRelease.includes('Codename: bookworm'));
});

function assertStoppedEverything(r: Interrupted, code: number, tool: string): void {
  const ctx = `stderr:\n${r.stderr}`;
  // The scan can fail: it saw the tool and its grandchild running before the signal.
  assert.ok(r.before.some((p) => p.cmdline.includes(`${tools.bin}/${tool}`)), `the tool ran before the signal\n${ctx}`);
  assert.ok(r.before.some((p) => p.cmdline.includes(`${tools.bin}/${tool}-grandchild`)), `its grandchild ran before the signal\n${ctx}`);
  assert.equal(r.after, [], `nothing left running\n${ctx}`);
  assert.is(r.code, code, ctx);
  assert.equal(snapshot(), before, 'the previous publication is intact');
  const left = readdirSync(machines, { withFileTypes: true }).map((d) => d.name);
  assert.equal(left.filter((n) => n.startsWith('.nspawn-kit-build-') || n === 'k1'), [], 'no build dir, no half machine');
}

for (const [signal, code] of [['SIGTERM', 143], ['SIGINT', 130]] as const) {
  test(`mirror warm, ${signal}: apt-get and its grandchild stopped, exit ${code}`, async () => {
    const r = await interrupt(['--config', cfg, 'mirror', 'warm', 'slowpoke'], { ...tools, dir: base, signal, waitFor: 'apt-get' });
    assertStoppedEverything(r, code, 'apt-get');
    assert.match(r.stderr, `nspawn-kit: ${signal}: stopping child processes`);
  });

  test(`create, ${signal}: debootstrap and its grandchild stopped, the build dir removed, exit ${code}`, async () => {
    mkdirSync(machines, { recursive: true });
    const r = await interrupt(['--config', cfg, 'create', 'slowpoke', '--name', 'k1'], { ...tools, dir: base, signal, waitFor: 'debootstrap' });
    assertStoppedEverything(r, code, 'debootstrap');
    assert.match(r.stderr, `nspawn-kit: ${signal}: stopping child processes, removing unfinished builds`);
  });

  test(`a task script (tasks/cache-warming.mjs), ${signal}: exit ${code}, nothing left`, async () => {
    const r = await interrupt(['--config', cfg, '--recipe', 'slowpoke'], { ...tools, dir: base, signal, waitFor: 'apt-get', script: 'tasks/cache-warming.mjs' });
    assertStoppedEverything(r, code, 'apt-get');
  });

  test(`a hook (hooks/nightly-refresh.mjs), ${signal}: exit ${code}, nothing left`, async () => {
    const r = await interrupt(['--config', cfg], { ...tools, dir: base, signal, waitFor: 'apt-get', script: 'hooks/nightly-refresh.mjs' });
    assertStoppedEverything(r, code, 'apt-get');
  });
}

// The long-running commands stop themselves gracefully (they claim the signals), and still leave no child:
// a watch validating a .deb with a dpkg-deb that hangs, stopped by SIGTERM or SIGHUP (the reviewer's finding).
const watchTools = slowTools(join(base, 'watch'), ['dpkg-deb']);
let dropped = 0;
for (const signal of ['SIGTERM', 'SIGHUP'] as const) {
  test(`watch, ${signal}: it stops gracefully (exit 0) and the dpkg-deb validating a new .deb, with its grandchild, is stopped`, async () => {
    const r = await interrupt(['--config', cfg, 'watch'], {
      ...watchTools,
      dir: base,
      signal,
      waitFor: 'dpkg-deb',
      when: { text: 'daemon-ready', then: () => makeDeb(archives, { name: `dropped${++dropped}`, version: '1.0' }) },
    });
    const ctx = `stderr:\n${r.stderr}`;
    assert.ok(r.before.some((p) => p.cmdline.includes(`${watchTools.bin}/dpkg-deb-grandchild`)), `the grandchild ran before the signal\n${ctx}`);
    assert.equal(r.after, [], `nothing left running\n${ctx}`);
    assert.is(r.code, 0, ctx);
    assert.match(r.stderr, `stopping reason=${signal}`);
  });
}

test('mirror warm --json, SIGTERM: every stderr line is a JSON event, the last the error with exit code 143', async () => {
  const r = await interrupt(['--config', cfg, '--json', 'mirror', 'warm', 'slowpoke'], { ...tools, dir: base, signal: 'SIGTERM', waitFor: 'apt-get' });
  assertStoppedEverything(r, 143, 'apt-get');
  const events = r.stderr.trimEnd().split('\n').map((l) => JSON.parse(l) as { event: string; message?: string; exitCode?: number });
  assert.ok(events.some((e) => e.event === 'log' && e.message?.startsWith('nspawn-kit: SIGTERM: stopping child processes')), r.stderr);
  assert.equal(events.at(-1), { event: 'error', error: 'interrupted by SIGTERM', exitCode: 143 });
  assert.is(r.stdout, '');
});

test.run();
