/**
 * The package's Debian version is package.json's (debian/deb-version.mjs, used
 * by debian/rules and scripts/build-deb.mjs): a semver pre-release sorts before
 * its release in dpkg as in semver; what is not semver is refused.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { debianVersion } from '../../debian/deb-version.mjs';
import { ROOT } from '../helpers/cli.js';
import { compareVersions } from '../../src/mirror/deb-version.js';

test('a release is itself; a pre-release gets "~"; build metadata keeps "+"; "-" inside them becomes "."', () => {
  assert.is(debianVersion('0.1.0'), '0.1.0');
  assert.is(debianVersion('1.2.0-rc.1'), '1.2.0~rc.1');
  assert.is(debianVersion('1.2.0+git.5'), '1.2.0+git.5');
  assert.is(debianVersion('1.2.0-beta-2+ci-7'), '1.2.0~beta.2+ci.7');
});

test('dpkg order follows semver order: pre-releases before the release, before the next patch', () => {
  const semverOrder = ['1.2.0-alpha.1', '1.2.0-beta.1', '1.2.0-rc.1', '1.2.0', '1.2.1'];
  const deb = semverOrder.map(debianVersion);
  for (let i = 1; i < deb.length; i += 1) assert.ok(compareVersions(deb[i - 1]!, deb[i]!) < 0, `${deb[i - 1]} < ${deb[i]}`);
});

test('what is not semver is refused with the version in the message', () => {
  for (const bad of ['1.2', 'v1.2.0', '1.2.0-', '1.2.0 ', '1.2.0-rc_1', '']) assert.throws(() => debianVersion(bad), new RegExp(`version ${JSON.stringify(bad).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is not a semver version`));
});

test('node debian/deb-version.mjs prints the Debian version of package.json', () => {
  const r = spawnSync(process.execPath, [join(ROOT, 'debian', 'deb-version.mjs')], { cwd: '/', encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  assert.is(r.stdout, `${debianVersion(version)}\n`);
});

test.run();
