/** The crontab line and the watch command as /bin/sh runs them: a hostile CLI path runs nothing (literal renderings: test/unit/triggers-units.test.ts). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cronFile, crontabLine, watchCommand } from '../../src/triggers/units.js';
import { makeConfig } from '../helpers/config.js';

test('crontab line and watch command: hostile paths run nothing under /bin/sh', () => {
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

/**
 * The environment cron gives a job of /etc/cron.d/nspawn-kit: its own (PATH=/usr/bin:/bin, HOME,
 * LOGNAME, SHELL), then the file's assignments; the job runs with `sh -c`.
 */
function cronEnv(file: string): Record<string, string> {
  const env: Record<string, string> = { PATH: '/usr/bin:/bin', HOME: '/root', LOGNAME: 'root', SHELL: '/bin/sh' };
  for (const line of file.split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line);
    if (m?.[1]) env[m[1]] = m[2] ?? '';
  }
  return env;
}

test('the cron file sets PATH: under cron\'s environment the tools a refresh runs by name are found (debootstrap is in /usr/sbin)', () => {
  const file = cronFile(makeConfig('/srv'), { nodePath: '/usr/bin/node', cliPath: '/opt/nspawn-kit/dist/cli.js' });
  assert.is(
    file,
    [
      '# nspawn-kit: the nightly mirror refresh (from `nspawn-kit install-units`)',
      'SHELL=/bin/sh',
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      '17 3 * * * root /usr/bin/node /opt/nspawn-kit/dist/cli.js mirror refresh',
      '',
    ].join('\n'),
  );
  const tools = 'command -v debootstrap apt-get apt-ftparchive gpg dpkg-deb systemd-nspawn';
  const withFile = spawnSync('/bin/sh', ['-c', tools], { encoding: 'utf8', env: cronEnv(file) });
  assert.is(withFile.status, 0, withFile.stdout + withFile.stderr);
  assert.match(withFile.stdout, /^\/usr\/sbin\/debootstrap$/m);
  // cron's own PATH alone (a file without the assignment): debootstrap is not found, the refresh would fail.
  const bare = spawnSync('/bin/sh', ['-c', 'command -v debootstrap'], { encoding: 'utf8', env: cronEnv('') });
  assert.is.not(bare.status, 0, 'debootstrap must not be on cron\'s default PATH for this test to mean anything');
});

test.run();
