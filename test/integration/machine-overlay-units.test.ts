// The units of an overlay machine where systemd is PID 1, checked by systemd
// itself: `systemd-analyze verify` accepts the generated .mount unit (its name
// must match Where=, which it refuses otherwise), and writeNspawnFiles writes
// the unit and the RequiresMountsFor= drop-in (systemctl is a stub here: this
// host has no systemd as PID 1, so nothing is started).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Shell } from '../../src/shell.js';
import { writeNspawnFiles } from '../../src/machine/nspawn-file.js';
import { mountUnitName, renderMountUnit } from '../../src/machine/overlay-units.js';
import { makeConfig, makeRecipe } from '../helpers/config.js';
import { stubSystemctl } from '../helpers/systemctl-stub.js';

const base = mkdtempSync(join(tmpdir(), 'nk-units-'));
const sh = new Shell({ log: () => {} });
test.after(() => rmSync(base, { recursive: true, force: true }));

function verify(file: string): { code: number | null; out: string } {
  const r = spawnSync('systemd-analyze', ['verify', '--', file], { encoding: 'utf8' });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

test('systemd-analyze verify accepts the .mount unit, also for a name that needs escaping; a wrong name is refused', () => {
  for (const name of ['web', 'my-box.1']) {
    const where = join(base, 'machines', name);
    mkdirSync(where, { recursive: true });
    const file = join(base, mountUnitName(where));
    writeFileSync(file, renderMountUnit({ machine: name, where, lower: join(base, 'l'), upper: join(base, 'u'), work: join(base, 'w') }));
    const r = verify(file);
    assert.is(r.code, 0, r.out);
    rmSync(file);
  }
  // The check above can fail: the unit of one directory under another's name.
  const wrong = join(base, mountUnitName(join(base, 'machines', 'other')));
  writeFileSync(wrong, renderMountUnit({ machine: 'web', where: join(base, 'machines', 'web'), lower: '/l', upper: '/u', work: '/w' }));
  const r = verify(wrong);
  assert.is(r.code, 1);
  assert.match(r.out, /Where= setting doesn't match unit name/);
});

test('writeNspawnFiles with systemd as PID 1 and an overlay: the .mount unit and the RequiresMountsFor= drop-in', async () => {
  const config = makeConfig(base);
  config.host = { ...config.host, systemdPid1: true };
  const systemctl = stubSystemctl(base);
  const where = join(config.machines.dir, 'web');
  const overlay = { machine: 'web', where, lower: join(config.stateDir, 'base/web-0123456789abcdef'), upper: join(config.stateDir, 'overlay/web/upper'), work: join(config.stateDir, 'overlay/web/work') };
  try {
    const report = await writeNspawnFiles({ sh, config }, 'web', makeRecipe(), { overlay });
    const unit = join(config.machines.unitDir, mountUnitName(where));
    const dropIn = join(config.machines.unitDir, 'systemd-nspawn@web.service.d', 'nspawn-kit-overlay.conf');
    assert.equal(report.mountUnit, { unit, dropIn });
    assert.is(readFileSync(unit, 'utf8'), renderMountUnit(overlay));
    assert.match(readFileSync(unit, 'utf8'), `\nOptions=lowerdir=${overlay.lower},upperdir=${overlay.upper},workdir=${overlay.work}\n`);
    assert.is(readFileSync(dropIn, 'utf8'), `# Written by nspawn-kit: the machine directory is an overlay mount.\n[Unit]\nRequiresMountsFor=${where}\n`);
    assert.equal(readdirSync(join(config.machines.unitDir, 'systemd-nspawn@web.service.d')).sort(), ['nspawn-kit-overlay.conf', 'nspawn-kit.conf']);
    assert.is(readFileSync(systemctl.log, 'utf8'), 'daemon-reload\n');
    mkdirSync(where, { recursive: true });
    const r = verify(unit);
    assert.is(r.code, 0, r.out);
  } finally {
    systemctl.restore();
  }
  // Without systemd as PID 1 no unit is written: nspawn-kit mounts the overlay itself.
  const plain = makeConfig(join(base, 'plain'));
  const report = await writeNspawnFiles({ sh, config: plain }, 'web', makeRecipe(), { overlay: { ...overlay, where: join(plain.machines.dir, 'web') } });
  assert.is(report.mountUnit, undefined);
  assert.equal(readdirSync(join(base, 'plain')).sort(), ['machines', 'nspawn']);
});

test.run();
