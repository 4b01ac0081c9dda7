import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Shell } from '../../src/shell.js';
import { DAEMON_UNIT, installUnits } from '../../src/triggers/units.js';
import { makeConfig } from '../helpers/config.js';

const base = mkdtempSync(join(tmpdir(), 'nk-units-'));
const cliPath = join(base, 'cli.js');
writeFileSync(cliPath, '// stand-in for dist/cli.js\n');
const paths = { nodePath: process.execPath, cliPath };

test.after(() => rmSync(base, { recursive: true, force: true }));

test('install-units writes the daemon unit into the unit dir; systemd-analyze accepts it', async () => {
  const unitDir = join(base, 'system');
  const config = makeConfig(base, { host: { codename: 'bookworm', architecture: 'amd64', systemdPid1: false, aptSources: {} } });
  const res = await installUnits({ config, sh: new Shell({ log: () => undefined }), unitDir, ...paths });
  assert.is(res.mode, 'systemd');
  assert.equal(res.written, [join(unitDir, DAEMON_UNIT)]);
  // Its ReadWritePaths= exist before the first start (a missing one stays read-only in the sandbox).
  for (const path of [config.stateDir, config.mirror.root]) assert.ok(statSync(path).isDirectory(), path);
  assert.match(readFileSync(res.written[0]!, 'utf8'), new RegExp(`^ReadWritePaths=.*-${config.stateDir.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`, 'm'));
  assert.equal(res.commands, [], 'not enabled where systemd is not PID 1');
  assert.is(statSync(res.written[0]!).mode & 0o777, 0o644);
  const text = readFileSync(res.written[0]!, 'utf8');
  assert.match(text, new RegExp(`^ExecStart=${process.execPath.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} `, 'm'));
  const verify = spawnSync('systemd-analyze', ['verify', '--man=no', '--', res.written[0]!], { encoding: 'utf8' });
  // Only problems with the unit file itself matter here (no systemd as PID 1 in CI).
  const ours = `${verify.stdout}\n${verify.stderr}`.split('\n').filter((l) => l.includes(DAEMON_UNIT) && !/Failed to|bus|Transport/i.test(l));
  assert.equal(ours, [], verify.stderr);
});

test('with systemd as PID 1: daemon-reload and enable --now (dry-run prints them, writes nothing)', async () => {
  const unitDir = join(base, 'dry');
  const config = makeConfig(join(base, 'fresh'), { host: { codename: 'bookworm', architecture: 'amd64', systemdPid1: true, aptSources: {} } });
  const sh = new Shell({ dryRun: true, log: () => undefined });
  const res = await installUnits({ config, sh, unitDir, ...paths });
  assert.equal(res.commands, ['systemctl daemon-reload', `systemctl enable --now -- ${DAEMON_UNIT}`]);
  assert.ok(sh.planned.some((p) => p.startsWith(`write ${join(unitDir, DAEMON_UNIT)}`)));
  assert.ok(sh.planned.includes(`systemctl enable --now -- ${DAEMON_UNIT}`));
  assert.ok(sh.planned.indexOf(`mkdir -p -- ${config.stateDir}`) >= 0 && sh.planned.indexOf(`mkdir -p -- ${config.stateDir}`) < sh.planned.findIndex((p) => p.startsWith('systemctl enable')), sh.planned.join('\n'));
  assert.throws(() => statSync(unitDir));
});

test('without systemd as PID 1 and no unit dir: the crontab line and the watcher command, nothing written', async () => {
  const config = makeConfig(base, { host: { codename: 'bookworm', architecture: 'amd64', systemdPid1: false, aptSources: {} } });
  const sh = new Shell({ log: () => undefined });
  const res = await installUnits({ config, sh, ...paths });
  assert.is(res.mode, 'cron');
  assert.equal(res.written, []);
  assert.is(
    res.crontab,
    [
      '# nspawn-kit: the nightly mirror refresh (from `nspawn-kit install-units`)',
      'SHELL=/bin/sh',
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      `17 3 * * * root ${process.execPath} ${cliPath} mirror refresh`,
      '',
    ].join('\n'),
  );
  assert.is(res.watchCommand, `${process.execPath} ${cliPath} watch`);
});

test.run();
