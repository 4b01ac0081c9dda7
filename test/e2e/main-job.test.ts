/**
 * The main job end to end: `npx zx tasks/qgis-container.mjs` on the
 * bookworm-minimal recipe from an empty state (real debootstrap, gpg,
 * apt-ftparchive, systemd-nspawn --boot), then again with the upstream
 * pointed at an address that answers nothing, then --dry-run.
 * The full QGIS recipe (~1 GB of downloads) runs when NSPAWN_KIT_E2E_QGIS=1.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { diffTrees, snapshotTree } from '../helpers/tree.js';
import { zxScript } from '../helpers/zx.js';
import { cli } from '../helpers/cli.js';
import { removeTestTree } from '../helpers/cleanup.js';

const base = mkdtempSync(join('/var/tmp', 'nk-e2e-main-'));
const settings = {
  stateDir: join(base, 'state'),
  mirror: { root: join(base, 'mirror'), archives: [] },
  machines: { dir: join(base, 'machines'), settingsDir: join(base, 'nspawn'), unitDir: join(base, 'units') },
};
const cfg = join(base, 'cfg.json');
const offline = join(base, 'cfg-offline.json');
writeFileSync(cfg, JSON.stringify(settings));
writeFileSync(offline, JSON.stringify({ ...settings, mirror: { ...settings.mirror, upstreams: { bookworm: 'http://127.0.0.1:9/debian' } } }));

test.after(() => removeTestTree(base));

function shadowOf(root: string): Map<string, string> {
  return new Map(
    readFileSync(join(root, 'etc', 'shadow'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => [l.split(':')[0] ?? '', l.split(':')[1] ?? '']),
  );
}

test('first run from an empty state: warm, publish, bootstrap, first boot, summary', () => {
  const r = zxScript('tasks/qgis-container.mjs', ['--recipe', 'bookworm-minimal', '--name', 'main1', '--config', cfg]);
  assert.is(r.code, 0, r.stdout.slice(-3000) + r.stderr.slice(-3000));
  assert.match(r.stderr, 'Cache warming: warm: downloaded');
  assert.match(r.stderr, 'Provisioning boot (first-boot script): success (exit 0)');
  assert.match(r.stderr, 'SKIPPED: recipe bookworm-minimal does not install python3-qgis');
  // listr2's lines (the stages) on stderr, the summary on stdout.
  assert.match(r.stdout, `machine:  main1 at ${join(base, 'machines', 'main1')}`);
  assert.not.match(r.stdout, /SKIPPED|warm: downloaded/);
  assert.match(r.stdout, 'time per stage:');
  const root = join(base, 'machines', 'main1');
  const marker = JSON.parse(readFileSync(join(root, 'var/lib/nspawn-kit/firstboot.json'), 'utf8')) as { status: string };
  assert.is(marker.status, 'success');
  // No usable password anywhere: root locked.
  const root_pw = shadowOf(root).get('root') ?? '';
  assert.ok(root_pw.startsWith('*') || root_pw.startsWith('!'), `root password field: ${root_pw}`);
  // Sources: deb822 with Signed-By, never trusted=yes.
  const sources = readFileSync(join(root, 'etc/apt/sources.list.d/nspawn-kit-mirror.sources'), 'utf8');
  assert.match(sources, 'Signed-By: /etc/apt/keyrings/nspawn-kit-mirror.asc');
  assert.not.match(sources, /trusted/i);
  assertPatched(root, 'main1');
});

/**
 * Issue 13: the container's sources carry the release and its update suites
 * (mirror and upstream), and right after the build apt has nothing to
 * upgrade from them (run inside the machine, not booted, from its lists).
 */
function assertPatched(root: string, name: string): void {
  const mirror = readFileSync(join(root, 'etc/apt/sources.list.d/nspawn-kit-mirror.sources'), 'utf8');
  assert.match(mirror, /^Suites: bookworm bookworm-updates bookworm-security$/m);
  const upstream = readFileSync(join(root, 'etc/apt/sources.list.d/nspawn-kit-upstream.sources'), 'utf8');
  for (const suite of ['bookworm', 'bookworm-updates', 'bookworm-security']) assert.match(upstream, new RegExp(`^Suites:(.* )? ?${suite}( .*)?$`, 'm'), `upstream sources: ${suite}`);
  const s = cli(['--config', cfg, 'run', name, '--', 'apt-get', '-s', '-o', 'Debug::NoLocking=1', 'upgrade']);
  assert.is(s.code, 0, s.stdout + s.stderr);
  assert.match(s.stdout, /^0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded\.$/m);
}

test('second run with the upstream unreachable (127.0.0.1:9) reuses the base cache and succeeds', () => {
  const r = zxScript('tasks/qgis-container.mjs', ['--recipe', 'bookworm-minimal', '--name', 'main2', '--config', offline]);
  assert.is(r.code, 0, r.stdout.slice(-3000) + r.stderr.slice(-3000));
  assert.match(r.stderr, /Cache warming \[SKIPPED: base cache \w+ is valid for the published mirror: nothing to download\]/);
  assert.match(r.stdout, 'base:     from the cache');
  assert.match(r.stderr, 'Provisioning boot (first-boot script): success (exit 0)');
});

test('--dry-run prints every stage and changes nothing', () => {
  const before = snapshotTree(base);
  const r = zxScript('tasks/qgis-container.mjs', ['--recipe', 'bookworm-minimal', '--name', 'main3', '--config', cfg, '--dry-run']);
  assert.is(r.code, 0, r.stdout.slice(-3000) + r.stderr.slice(-3000));
  assert.match(r.stderr, '[dry-run] mount -t overlay -o', 'the new machine is layered over the cached base');
  assert.match(r.stderr, '[dry-run] systemd-nspawn');
  assert.match(r.stdout, 'nothing was changed');
  assert.not.ok(existsSync(join(base, 'machines', 'main3')));
  assert.equal(diffTrees(before, snapshotTree(base)), []);
});

if (process.env.NSPAWN_KIT_E2E_QGIS === '1') {
  test('the qgis recipe: QGIS works headless inside the container', () => {
    const r = zxScript('tasks/qgis-container.mjs', ['--name', 'qgis1', '--config', cfg]);
    assert.is(r.code, 0, r.stdout.slice(-3000) + r.stderr.slice(-3000));
    assert.match(r.stdout, /check: +QGIS works headless .*: QGIS 3\.\d+/);
    assertPatched(join(base, 'machines', 'qgis1'), 'qgis1');
  });
}

test.run();
