/**
 * `nspawn-kit upgrade` through the CLI on fake machines (roots made here, a
 * mirror published with the real publish): the usage rules, the dry-run plan
 * (the exact non-booted, networkless systemd-nspawn and the sources apt gets),
 * the refusals that change nothing, and --all going on past failures.
 * The real upgrade (debootstrap, apt, dpkg) is test/e2e/security-update.test.ts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
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

test.after(async () => {
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
  assert.match(all.stderr, /^web: upgrade failed: .*systemd-nspawn .*--machine=web .*\n.*doesn't look like it has an OS tree/m);
  assert.match(all.stderr, /^web2: upgrade failed: .*systemd-nspawn .*--machine=web2 /m);
  assert.not.match(all.stderr, /stray/);
  assert.is(readFileSync(join(config.machines.dir, 'web/var/lib/nspawn-kit/provenance.json'), 'utf8'), before, 'a failed upgrade records nothing');
  assert.not.ok(existsSync(join(config.machines.dir, 'web/var/lib/nspawn-kit/upgrade.sources')), 'the sources file is removed after a failure too');
});

test.run();
