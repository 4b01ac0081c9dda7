import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crontabLine, renderUnits, systemdWord, watchCommand, DAEMON_UNIT } from '../../src/triggers/units.js';
import { makeConfig } from '../helpers/config.js';

const paths = { nodePath: '/usr/bin/node', cliPath: '/opt/nspawn-kit/dist/cli.js' };

test('the daemon unit: simple service, restarts on failure, runs `daemon`, may write only state and mirror', () => {
  const config = makeConfig('/srv/nk', { file: '/etc/nspawn-kit/nspawnrc.json' });
  const [unit] = renderUnits(config, paths);
  assert.is(unit!.name, DAEMON_UNIT);
  const text = unit!.text;
  assert.match(text, /^Type=simple$/m);
  assert.match(text, /^Restart=on-failure$/m);
  assert.match(text, /^ExecStart=\/usr\/bin\/node \/opt\/nspawn-kit\/dist\/cli\.js --config \/etc\/nspawn-kit\/nspawnrc\.json daemon$/m);
  assert.match(text, /^ProtectSystem=strict$/m);
  assert.match(text, /^ReadWritePaths=-\/srv\/nk\/state -\/srv\/nk\/mirror$/m);
  assert.match(text, /^NoNewPrivileges=yes$/m);
  assert.match(text, /^WantedBy=multi-user\.target$/m);
  assert.not.match(text, /MemoryDenyWriteExecute/, 'V8 needs writable+executable memory');
});

test('systemd words: specifiers, variables and spaces cannot change the command', () => {
  assert.is(systemdWord('/opt/a b/cli.js'), '"/opt/a b/cli.js"');
  assert.is(systemdWord('/opt/100%/$HOME.js'), '"/opt/100%%/$$HOME.js"');
  assert.is(systemdWord('/opt/"q"\\x'), '"/opt/\\"q\\"\\\\x"');
  const [unit] = renderUnits(makeConfig('/srv/a b'), { nodePath: '/usr/bin/node', cliPath: '/opt/%n/cli.js' });
  assert.match(unit!.text, /^ExecStart=\/usr\/bin\/node \/opt\/%%n\/cli\.js daemon$/m);
  assert.match(unit!.text, /^ReadWritePaths="-\/srv\/a b\/state" "-\/srv\/a b\/mirror"$/m);
});

test('relative node or CLI paths are refused', () => {
  assert.throws(() => renderUnits(makeConfig('/srv'), { nodePath: 'node', cliPath: '/x/cli.js' }), /absolute/);
});

test('crontab line: the schedule, root, mirror refresh; hostile paths run nothing under /bin/sh', () => {
  const config = makeConfig('/srv', { schedule: { refresh: '17 3 * * *' } });
  assert.is(crontabLine(config, paths), '17 3 * * * root /usr/bin/node /opt/nspawn-kit/dist/cli.js mirror refresh');
  assert.is(crontabLine(makeConfig('/srv', { schedule: { refresh: '0 30 4 * * 1' } }), paths), '30 4 * * 1 root /usr/bin/node /opt/nspawn-kit/dist/cli.js mirror refresh');
  assert.throws(() => crontabLine(makeConfig('/srv', { schedule: { refresh: '*/10 * * * * *' } }), paths), /several times a minute/);
  assert.match(crontabLine(makeConfig('/srv', { schedule: { refresh: '17 3 * * *', timezone: 'Europe/Berlin' } }), paths), /^# schedule\.timezone is Europe\/Berlin/);

  const dir = mkdtempSync(join(tmpdir(), 'nk-units-'));
  try {
    const hostile = { nodePath: '/bin/echo', cliPath: `/opt/a b/$(touch ${dir}/pwned)/it's 100%/cli.js` };
    const line = crontabLine(makeConfig('/srv'), hostile);
    // What cron hands to /bin/sh: after the user field, with \% turned back into %.
    const command = line.replace(/^(\S+\s+){5}root /, '').replace(/\\%/g, '%');
    const out = spawnSync('/bin/sh', ['-c', command], { encoding: 'utf8', cwd: dir });
    assert.is(out.stdout, `${hostile.cliPath} mirror refresh\n`);
    const watch = spawnSync('/bin/sh', ['-c', watchCommand(makeConfig('/srv'), hostile)], { encoding: 'utf8', cwd: dir });
    assert.is(watch.stdout, `${hostile.cliPath} watch\n`);
    assert.equal(readdirSync(dir), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
