/** Provenance and first-boot marker round trips, sha256 of a file, and the host-side .nspawn files. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeConfig, makeRecipe } from '../helpers/config.js';
import { Shell } from '../../src/shell.js';
import { OperationError } from '../../src/errors.js';
import { FIRSTBOOT, PROVENANCE, type Provenance } from '../../src/machine/paths.js';
import { readFirstBootResult, readProvenance, writeProvenance } from '../../src/machine/provenance.js';
import { writeNspawnFiles } from '../../src/machine/nspawn-file.js';
import { stubSystemctl } from '../helpers/systemctl-stub.js';

const base = mkdtempSync(join(tmpdir(), 'nk-records-'));
const sh = new Shell({ log: () => undefined });
const PROV: Provenance = {
  machine: 'box',
  recipe: 'bookworm-minimal',
  recipeHash: 'a'.repeat(64),
  codename: 'bookworm',
  inReleaseSha256: 'b'.repeat(64),
  builtAt: '2026-01-02T03:04:05.000Z',
  backend: 'debootstrap',
  fromBaseCache: true,
};

test('provenance: written inside the root, read back; absent -> undefined; garbage -> OperationError', async () => {
  const root = join(base, 'root1');
  mkdirSync(root);
  assert.is(await readProvenance(root), undefined);
  await writeProvenance(sh, root, PROV);
  assert.ok(existsSync(join(root, PROVENANCE)));
  assert.equal(await readProvenance(root), PROV);
  writeFileSync(join(root, PROVENANCE), '{"machine":1}');
  try {
    await readProvenance(root);
    assert.unreachable();
  } catch (err) {
    assert.instance(err, OperationError);
  }
});

test('first-boot marker: undefined until written, parsed, validated; a symlinked marker cannot read host files', async () => {
  const root = join(base, 'root2');
  mkdirSync(join(root, 'var/lib/nspawn-kit'), { recursive: true });
  assert.is(await readFirstBootResult(root), undefined);
  writeFileSync(join(root, FIRSTBOOT.marker), '{"status":"failure","exitCode":7,"time":"2026-01-02T03:04:05Z"}\n');
  assert.equal(await readFirstBootResult(root), { status: 'failure', exitCode: 7, time: '2026-01-02T03:04:05Z' });
  writeFileSync(join(root, FIRSTBOOT.marker), '{"status":"ok"}');
  await readFirstBootResult(root).then(
    () => assert.unreachable(),
    (err) => assert.instance(err, OperationError),
  );
  // A link (here to a host file holding a valid marker) is never followed: refused, naming the marker.
  const host = join(base, 'host-marker.json');
  writeFileSync(host, '{"status":"success","exitCode":0,"time":"2026-01-02T03:04:05Z"}');
  rmSync(join(root, FIRSTBOOT.marker));
  symlinkSync(host, join(root, FIRSTBOOT.marker));
  await readFirstBootResult(root).then(
    () => assert.unreachable(),
    (err: Error) => {
      assert.instance(err, OperationError);
      assert.is(err.message, `${join(root, FIRSTBOOT.marker)} is a symbolic link; not followed`);
    },
  );
});

test('writeNspawnFiles: settings file where asked and beside the root; override skipped without systemd as PID 1', async () => {
  const config = makeConfig(base);
  const settingsDir = join(base, 'settings-asked');
  const report = await writeNspawnFiles({ sh, config }, 'box', makeRecipe({ nspawn: { network: 'veth', binds: [], bindsReadOnly: [], privateUsers: 'pick' } }), {
    settingsDir,
    unitDir: join(base, 'units'),
  });
  assert.is(report.settingsFile, join(settingsDir, 'box.nspawn'));
  // systemd-nspawn never reads settingsDir here: the copy it reads (with --settings=trusted) is beside the root.
  assert.is(report.besideRoot, join(config.machines.dir, 'box.nspawn'));
  assert.is(readFileSync(join(config.machines.dir, 'box.nspawn'), 'utf8'), readFileSync(report.settingsFile, 'utf8'));
  const text = readFileSync(report.settingsFile, 'utf8');
  assert.match(text, /^VirtualEthernet=yes$/m);
  assert.match(text, new RegExp(`^BindReadOnly=${config.mirror.root}:/var/local/nspawn-kit-mirror$`, 'm'));
  assert.equal(report.serviceOverride, { skipped: 'skipped: systemd is not PID 1' });
  assert.not.ok(existsSync(join(base, 'units')));
});

test('writeNspawnFiles with systemd as PID 1: drop-in written, daemon-reload run; no option: the config\'s directories', async () => {
  // Everything under the temp dir: the library has no /etc (or other system path) fallback.
  const machinesDir = join(base, 'srv-machines');
  const config = makeConfig(base, { machines: { dir: machinesDir, settingsDir: join(base, 'nspawn'), unitDir: join(base, 'units'), clone: 'auto' } });
  config.host = { ...config.host, systemdPid1: true };
  const systemctl = stubSystemctl(base);
  try {
    const report = await writeNspawnFiles({ sh, config }, 'box', makeRecipe());
    assert.is(report.settingsFile, join(base, 'nspawn', 'box.nspawn'));
    assert.is(report.besideRoot, join(machinesDir, 'box.nspawn'));
    const dropIn = join(base, 'units', 'systemd-nspawn@box.service.d', 'nspawn-kit.conf');
    assert.equal(report.serviceOverride, { written: dropIn });
    const execStart = `ExecStart=systemd-nspawn --quiet --keep-unit --boot --link-journal=try-guest --machine=%i --settings=trusted --directory=${machinesDir}/%i`;
    assert.ok(readFileSync(dropIn, 'utf8').includes(`ExecStart=\n${execStart}\n`), readFileSync(dropIn, 'utf8'));
    assert.is(readFileSync(systemctl.log, 'utf8'), 'daemon-reload\n');
  } finally {
    systemctl.restore();
  }
});

test.after(() => rmSync(base, { recursive: true, force: true }));
test.run();
