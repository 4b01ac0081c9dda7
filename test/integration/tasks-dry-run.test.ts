/**
 * The main job's dry run on a fresh host: no mirror, no key, no base, no
 * machine. Every stage must plan (warm, publish, bootstrap, install, store,
 * clone, settings, provisioning boot) and nothing may be written.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { snapshotTree } from '../helpers/tree.js';
import { zxScript } from '../helpers/zx.js';

const base = mkdtempSync(join(tmpdir(), 'nk-dry-'));
const cfg = join(base, 'cfg.json');
mkdirSync(join(base, 'archives'));
writeFileSync(
  cfg,
  JSON.stringify({
    stateDir: join(base, 'state'),
    mirror: { root: join(base, 'mirror'), archives: [{ path: join(base, 'archives'), codename: 'bookworm' }], upstreams: { bookworm: 'http://deb.debian.org/debian' } },
    machines: { dir: join(base, 'machines'), settingsDir: join(base, 'nspawn'), unitDir: join(base, 'units') },
  }),
);

test.after(() => rmSync(base, { recursive: true, force: true }));

test('qgis-container --dry-run on an empty state plans every stage, exits 0 and writes nothing', () => {
  const before = snapshotTree(base);
  const r = zxScript('tasks/qgis-container.mjs', ['--recipe', 'bookworm-minimal', '--name', 'x', '--config', cfg, '--dry-run'], { env: { NO_COLOR: '1' } });
  assert.is(r.code, 0, r.stderr + r.stdout);
  // The planned commands are listr2's lines: stderr; stdout is the summary only.
  const out = r.stderr;
  assert.not.match(r.stdout, '[dry-run]');
  assert.match(r.stdout, 'nothing was changed');
  assert.match(out, /\[dry-run\] debootstrap --variant=minbase .*file:\/\//);
  // The package install of the base, then the provisioning boot with the settings file beside the root.
  assert.match(out, /\[dry-run\] systemd-nspawn .*--private-network .*-- \/bin\/sh -c/);
  assert.match(out, `[dry-run] systemd-nspawn --register=no --keep-unit --quiet --boot --directory=${join(base, 'machines', 'x')} --machine=x --settings=trusted`);
  // The base key depends on what the publish will sign: a placeholder stands in.
  // machines.clone "auto": the machine is an overlay over the base, nothing is copied.
  // Built under the state dir, then mounted on the host at the machine directory.
  assert.match(out, /\[dry-run\] mount -t overlay -o \$?'lowerdir=.*bookworm-minimal-<key after publish>,upperdir=.*\/upper,workdir=.*\/work' -- overlay \S+\/root\n/);
  assert.match(out, /\[dry-run\] mount -t overlay -o \$?'lowerdir=.*bookworm-minimal-<key after publish>,upperdir=\S+\/overlay\/x\/upper,workdir=\S+\/overlay\/x\/work' -- overlay \S+\/machines\/x\n/);
  assert.not.match(out, /cp -a --reflink/);
  assert.match(out, /\[dry-run\] mv -T -- \S+\/overlay\/\.nspawn-kit-build-x-[0-9a-f]+ \S+\/overlay\/x\n/);
  assert.match(out, `[dry-run] write ${join(base, 'nspawn', 'x.nspawn')}`);
  assert.match(out, `[dry-run] write ${join(base, 'machines', 'x.nspawn')}`);
  assert.equal(snapshotTree(base), before);
});

test.run();
