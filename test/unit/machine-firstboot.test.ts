import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { makeRecipe } from '../helpers/config.js';
import { FIRSTBOOT_WANTS_LINK, renderFirstBootScript, renderFirstBootUnit, renderRcLocal } from '../../src/machine/firstboot.js';
import { FIRSTBOOT } from '../../src/machine/paths.js';

const script = renderFirstBootScript({ machine: 'box', recipe: makeRecipe({ steps: ['echo one', "echo 'two' && touch /x"] }), linkResolvConf: true });

test('script: bash strict mode, valid syntax', () => {
  assert.ok(script.startsWith('#!/bin/bash\n'));
  assert.match(script, /^set -euo pipefail$/m);
  const res = spawnSync('bash', ['-n'], { input: script, encoding: 'utf8' });
  assert.is(res.status, 0, res.stderr);
});

test('script: production paths, no test prefix', () => {
  assert.match(script, /^readonly ROOT=''$/m);
  assert.ok(script.includes(`readonly MARKER="$ROOT"'${FIRSTBOOT.marker}'`));
  assert.ok(script.includes(`readonly LOG="$ROOT"'${FIRSTBOOT.log}'`));
  assert.ok(script.includes(`readonly SCRIPT="$ROOT"'${FIRSTBOOT.script}'`));
});

test('script: marker written on success and on failure, by the EXIT trap when killed; removes itself and its wants link', () => {
  assert.match(script, /finish success 0/);
  assert.match(script, /finish failure "\$status"/);
  assert.match(script, /^trap on_exit EXIT$/m);
  assert.match(script, /rm -f "\$SCRIPT" "\$WANTS_LINK"/);
  assert.match(script, /"status":"%s","exitCode":%d,"time":"%s"/);
});

test('script: networkd/resolved only if installed, resolv.conf linked only with resolved, apt from the mirror, steps in order', () => {
  assert.match(script, /enable_unit systemd-networkd\.service/);
  assert.match(script, /if unit_exists systemd-resolved\.service; then\n\s+enable_unit systemd-resolved\.service\n\s+ln -sf \/run\/systemd\/resolve\/resolv\.conf/);
  assert.match(script, /apt-get update -o Dir::Etc::SourceList="\$MIRROR_SOURCES" -o Dir::Etc::SourceParts=-/);
  assert.match(script, /DEBIAN_FRONTEND=noninteractive/);
  assert.match(script, /apt-get -y .*upgrade/);
  const one = script.indexOf("run_step 1 'echo one'");
  const two = script.indexOf(`run_step 2 'echo '\\''two'\\'' && touch /x'`);
  assert.ok(one > 0 && two > one, 'steps quoted and in order');
  assert.not.match(script, /trusted|allow-insecure|allow-unauthenticated/);
});

test('script: with the host network resolv.conf is not linked to resolved', () => {
  const host = renderFirstBootScript({ machine: 'box', recipe: makeRecipe() });
  assert.match(host, /enable_unit systemd-resolved\.service/);
  assert.not.match(host, /ln -sf \/run\/systemd\/resolve/);
});

test('unit: oneshot, runs while the script exists, after the network, wanted by multi-user', () => {
  const unit = renderFirstBootUnit();
  for (const line of [
    `ConditionPathExists=${FIRSTBOOT.script}`,
    'After=network-online.target',
    'Type=oneshot',
    'RemainAfterExit=no',
    `ExecStart=/bin/bash ${FIRSTBOOT.script}`,
    'StandardOutput=journal+console',
    'SyslogIdentifier=nspawn-kit-firstboot',
    'WantedBy=multi-user.target',
  ]) {
    assert.ok(unit.split('\n').includes(line), line);
  }
  assert.is(FIRSTBOOT_WANTS_LINK, '/etc/systemd/system/multi-user.target.wants/nspawn-kit-firstboot.service');
});

test('rc.local: the original recipe block, exit 0, valid sh', () => {
  const rc = renderRcLocal();
  assert.ok(rc.startsWith('#!/bin/sh\n'));
  assert.ok(rc.includes(`if [ -f ${FIRSTBOOT.script} ]; then\n  /bin/bash ${FIRSTBOOT.script} && rm -f ${FIRSTBOOT.script}\nfi\n`));
  assert.ok(rc.endsWith('exit 0\n'));
  assert.is(spawnSync('sh', ['-n'], { input: rc }).status, 0);
});

test('rc.local: an existing one keeps its content, our block after its first line, once', () => {
  const existing = '#!/bin/sh -e\necho hello\nexit 0\n';
  const once = renderRcLocal(existing);
  assert.ok(once.startsWith('#!/bin/sh -e\n# BEGIN nspawn-kit first boot\n'));
  assert.ok(once.endsWith('echo hello\nexit 0\n'));
  assert.is(renderRcLocal(once), once);
});

test.run();
