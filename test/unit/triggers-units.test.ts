/** Rendered daemon unit, systemd words and the crontab line, against literal expected text (sh runs them: test/integration/triggers-cron-shell.test.ts). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { crontabLine, renderUnits, systemdWord, watchCommand } from '../../src/triggers/units.js';
import { makeConfig } from '../helpers/config.js';

const paths = { nodePath: '/usr/bin/node', cliPath: '/opt/nspawn-kit/dist/cli.js' };

test('the daemon unit: simple service, restarts on failure, runs `daemon`, logs as nspawn-kit, sandboxed, may write only state and mirror', () => {
  const config = makeConfig('/srv/nk', { file: '/etc/nspawn-kit/nspawnrc.json' });
  const units = renderUnits(config, paths);
  assert.is(units.length, 1);
  assert.is(units[0]!.name, 'nspawn-kit-daemon.service');
  const text = units[0]!.text;
  // Every setting, in order (the comments that justify them: test/integration/triggers-units-security.test.ts).
  assert.equal(
    text.split('\n').filter((l) => l && !l.startsWith('#')),
    [
      '[Unit]',
      'Description=nspawn-kit: keep the local signed apt mirror current (watch apt archives, nightly refresh)',
      'Documentation=man:nspawn-kit(1)',
      'After=local-fs.target network-online.target',
      'Wants=network-online.target',
      '[Service]',
      'Type=simple',
      'ExecStart=/usr/bin/node /opt/nspawn-kit/dist/cli.js --config /etc/nspawn-kit/nspawnrc.json daemon',
      'SyslogIdentifier=nspawn-kit',
      'Restart=on-failure',
      'RestartSec=5s',
      'KillMode=mixed',
      'TimeoutStopSec=120s',
      'ProtectSystem=strict',
      'ReadWritePaths=-/srv/nk/state -/srv/nk/mirror',
      'ProtectHome=yes',
      'PrivateTmp=yes',
      'PrivateDevices=yes',
      'PrivateIPC=yes',
      'PrivateMounts=yes',
      'NoNewPrivileges=yes',
      'ProtectKernelTunables=yes',
      'ProtectKernelModules=yes',
      'ProtectKernelLogs=yes',
      'ProtectControlGroups=yes',
      'ProtectHostname=yes',
      'ProtectProc=invisible',
      'RestrictRealtime=yes',
      'RestrictSUIDSGID=yes',
      'LockPersonality=yes',
      'RestrictNamespaces=yes',
      'RemoveIPC=yes',
      'CapabilityBoundingSet=CAP_CHOWN CAP_DAC_OVERRIDE CAP_FOWNER CAP_SETGID CAP_SETUID',
      'AmbientCapabilities=',
      'SystemCallArchitectures=native',
      'SystemCallFilter=@system-service',
      'SystemCallFilter=~@resources',
      'SystemCallErrorNumber=EPERM',
      'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6',
      'UMask=0022',
      '[Install]',
      'WantedBy=multi-user.target',
    ],
  );
  assert.ok(text.startsWith('# Written by `nspawn-kit install-units`; rewrite it with the same command.\n[Unit]\n'));
  // V8 needs writable+executable memory; ProtectClock=yes would allow the RTC device.
  assert.not.match(text, /^(MemoryDenyWriteExecute|ProtectClock|DeviceAllow)=/m);
});

test('the daemon unit: a path under a home or temporary directory weakens only ProtectHome= or PrivateTmp=, and says which path', () => {
  const inHome = renderUnits(makeConfig('/srv/nk', { stateDir: '/home/admin/nk-state' }), paths)[0]!.text.split('\n');
  assert.is(inHome[inHome.indexOf('ProtectHome=read-only') - 1], '# "/home/admin/nk-state" is under /home, /root, /run/user: home directories stay visible, read-only (move it out for ProtectHome=yes).');
  assert.ok(inHome.includes('PrivateTmp=yes'));
  const node = renderUnits(makeConfig('/srv/nk'), { nodePath: '/root/.nvm/versions/node/v20.0.0/bin/node', cliPath: paths.cliPath })[0]!.text.split('\n');
  assert.ok(node.includes('ProtectHome=read-only'));
  const inTmp = renderUnits(makeConfig('/var/tmp/nk'), paths)[0]!.text.split('\n');
  assert.is(inTmp[inTmp.indexOf('PrivateTmp=no') - 1], '# "/var/tmp/nk/state" is under /tmp or /var/tmp: a private /tmp would hide it (move it out for PrivateTmp=yes).');
  assert.ok(inTmp.includes('ProtectHome=yes'));
  // /tmpfoo and /homes are not under /tmp or /home.
  const near = renderUnits(makeConfig('/tmpfoo', { stateDir: '/homes/x' }), paths)[0]!.text.split('\n');
  assert.ok(near.includes('ProtectHome=yes') && near.includes('PrivateTmp=yes'));
});

test('the daemon unit: with the apt-move importer the archive directories are writable too (apt-move moves files out of them), each once', () => {
  const base = makeConfig('/srv/nk');
  const config = makeConfig('/srv/nk', {
    mirror: {
      ...base.mirror,
      importer: 'apt-move',
      archives: [
        { path: '/srv/nk/archives', codename: 'bookworm' },
        { path: '/var/cache/apt/archives', codename: 'trixie' },
        { path: '/srv/nk/archives', codename: 'sid' },
      ],
    },
  });
  const lines = renderUnits(config, paths)[0]!.text.split('\n').filter((l) => l.startsWith('ReadWritePaths='));
  assert.equal(lines, ['ReadWritePaths=-/srv/nk/state -/srv/nk/mirror -/srv/nk/archives -/var/cache/apt/archives']);
});

test('systemd words: specifiers, variables and spaces cannot change the command', () => {
  assert.is(systemdWord('/usr/bin/node'), '/usr/bin/node');
  assert.is(systemdWord('/opt/a b/cli.js'), '"/opt/a b/cli.js"');
  assert.is(systemdWord('/opt/100%/$HOME.js'), '"/opt/100%%/$$HOME.js"');
  assert.is(systemdWord('/opt/"q"\\x'), '"/opt/\\"q\\"\\\\x"');
  // A line break would end the setting: refused, not escaped.
  assert.throws(() => systemdWord('/opt/a\nb'), /line break or control character/);
  const [unit] = renderUnits(makeConfig('/srv/a b'), { nodePath: '/usr/bin/node', cliPath: '/opt/%n/cli.js' });
  assert.match(unit!.text, /^ExecStart=\/usr\/bin\/node \/opt\/%%n\/cli\.js daemon$/m);
  assert.match(unit!.text, /^ReadWritePaths="-\/srv\/a b\/state" "-\/srv\/a b\/mirror"$/m);
});

test('relative node or CLI paths are refused', () => {
  assert.throws(() => renderUnits(makeConfig('/srv'), { nodePath: 'node', cliPath: '/x/cli.js' }), /absolute/);
  assert.throws(() => renderUnits(makeConfig('/srv'), { nodePath: '/usr/bin/node', cliPath: 'dist/cli.js' }), /absolute/);
});

test('crontab line: the schedule, root, mirror refresh; six fields only with one second; the time zone is named', () => {
  const config = makeConfig('/srv', { schedule: { refresh: '17 3 * * *' } });
  assert.is(crontabLine(config, paths), '17 3 * * * root /usr/bin/node /opt/nspawn-kit/dist/cli.js mirror refresh');
  assert.is(crontabLine(makeConfig('/srv', { schedule: { refresh: '0 30 4 * * 1' } }), paths), '30 4 * * 1 root /usr/bin/node /opt/nspawn-kit/dist/cli.js mirror refresh');
  assert.throws(() => crontabLine(makeConfig('/srv', { schedule: { refresh: '*/10 * * * * *' } }), paths), /several times a minute/);
  assert.is(
    crontabLine(makeConfig('/srv', { schedule: { refresh: '17 3 * * *', timezone: 'Europe/Berlin' } }), paths),
    "# schedule.timezone is Europe/Berlin; cron uses the host's time zone, adjust the hour if they differ\n17 3 * * * root /usr/bin/node /opt/nspawn-kit/dist/cli.js mirror refresh",
  );
});

test('crontab line and watch command: a hostile CLI path is one single-quoted word, % escaped for cron only', () => {
  const hostile = { nodePath: '/bin/echo', cliPath: "/opt/a b/$(touch /tmp/pwned)/it's 100%/cli.js" };
  assert.is(crontabLine(makeConfig('/srv'), hostile), "17 3 * * * root /bin/echo '/opt/a b/$(touch /tmp/pwned)/it'\\''s 100\\%/cli.js' mirror refresh");
  assert.is(watchCommand(makeConfig('/srv'), hostile), "/bin/echo '/opt/a b/$(touch /tmp/pwned)/it'\\''s 100%/cli.js' watch");
  assert.is(watchCommand(makeConfig('/srv', { file: '/etc/nk/rc.json' }), paths), '/usr/bin/node /opt/nspawn-kit/dist/cli.js --config /etc/nk/rc.json watch');
});

test.run();
