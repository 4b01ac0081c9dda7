/** The crontab line and the watch command as /bin/sh runs them: a hostile CLI path runs nothing (literal renderings: test/unit/triggers-units.test.ts). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crontabLine, watchCommand } from '../../src/triggers/units.js';
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

test.run();
