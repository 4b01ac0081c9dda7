/** First-boot renderers against literal paths and text (bash/sh syntax checks: test/integration/machine-firstboot-syntax.test.ts; the script run: machine-inject-script.test.ts). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { makeRecipe } from '../helpers/config.js';
import { FIRSTBOOT_WANTS_LINK, renderFirstBootScript, renderFirstBootUnit, renderRcLocal } from '../../src/machine/firstboot.js';

const script = renderFirstBootScript({ machine: 'box', recipe: makeRecipe({ steps: ['echo one', "echo 'two' && touch /x"] }), linkResolvConf: true });

// The same block written three ways would hide a path drift; it is spelled out once, here.
const RC_BLOCK = [
  '# BEGIN nspawn-kit first boot',
  'if [ -f /usr/local/lib/nspawn-kit/firstboot.sh ]; then',
  '  /bin/bash /usr/local/lib/nspawn-kit/firstboot.sh && rm -f /usr/local/lib/nspawn-kit/firstboot.sh',
  'fi',
  '# END nspawn-kit first boot',
  '',
].join('\n');

test('script: bash strict mode', () => {
  assert.ok(script.startsWith('#!/bin/bash\n# nspawn-kit first boot of machine box (recipe test-recipe).\n'));
  assert.match(script, /^set -euo pipefail$/m);
});

test('script: production paths, no test prefix', () => {
  const lines = script.split('\n');
  for (const line of [
    "readonly ROOT=''",
    `readonly SCRIPT="$ROOT"'/usr/local/lib/nspawn-kit/firstboot.sh'`,
    `readonly LOG="$ROOT"'/var/log/nspawn-kit-firstboot.log'`,
    `readonly MARKER="$ROOT"'/var/lib/nspawn-kit/firstboot.json'`,
    `readonly WANTS_LINK="$ROOT"'/etc/systemd/system/multi-user.target.wants/nspawn-kit-firstboot.service'`,
    `readonly MIRROR_SOURCES="$ROOT"'/etc/apt/sources.list.d/nspawn-kit-mirror.sources'`,
  ]) {
    assert.ok(lines.includes(line), line);
  }
  const prefixed = renderFirstBootScript({ machine: 'box', recipe: makeRecipe(), prefix: "/tmp/it's" });
  assert.ok(prefixed.split('\n').includes(`readonly ROOT='/tmp/it'\\''s'`));
});

test('script: marker written on success and on failure, by the EXIT trap when killed; removes itself and its wants link', () => {
  assert.match(script, /^\s+finish success 0$/m);
  assert.match(script, /^\s+finish failure "\$status"$/m);
  assert.match(script, /^\s+finish failure "\$code" \|\| true$/m);
  assert.match(script, /^trap on_exit EXIT$/m);
  assert.match(script, /^trap 'exit 143' TERM$/m);
  assert.match(script, /^\s+rm -f "\$SCRIPT" "\$WANTS_LINK"$/m);
  assert.ok(script.includes(`printf '{"status":"%s","exitCode":%d,"time":"%s"}\\n' "$1" "$2" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$tmp"`));
  assert.match(script, /^\s+mv -f "\$tmp" "\$MARKER"$/m);
});

test('script: networkd/resolved only if installed, resolv.conf linked only with resolved, apt from the mirror, steps in order', () => {
  assert.match(script, /^\s+enable_unit systemd-networkd\.service$/m);
  assert.ok(
    script.includes(
      '  if unit_exists systemd-resolved.service; then\n    enable_unit systemd-resolved.service\n    ln -sf /run/systemd/resolve/resolv.conf "$ROOT/etc/resolv.conf"\n  fi\n',
    ),
  );
  assert.ok(script.includes('  apt-get update -o Dir::Etc::SourceList="$MIRROR_SOURCES" -o Dir::Etc::SourceParts=- -o APT::Get::List-Cleanup=0\n'));
  assert.match(script, /^export DEBIAN_FRONTEND=noninteractive$/m);
  assert.ok(script.includes('  apt-get -y --with-new-pkgs -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold upgrade\n'));
  // Steps come after the upgrade, quoted, one line each, numbered in order.
  assert.ok(script.includes("upgrade\n  run_step 1 'echo one'\n  run_step 2 'echo '\\''two'\\'' && touch /x'\n}\n"));
  assert.not.match(script, /trusted|allow-insecure|allow-unauthenticated/);
});

test('script: with the host network resolv.conf is not linked to resolved', () => {
  const host = renderFirstBootScript({ machine: 'box', recipe: makeRecipe() });
  assert.ok(
    host.includes(
      '  if unit_exists systemd-resolved.service; then\n    enable_unit systemd-resolved.service\n    echo "nspawn-kit: host network: /etc/resolv.conf left to systemd-nspawn"\n  fi\n',
    ),
  );
  assert.not.match(host, /ln -sf/);
  assert.not.match(host, /run_step \d/);
});

test('script: unsafe machine or recipe names and steps with control characters are refused', () => {
  assert.throws(() => renderFirstBootScript({ machine: 'box\n$(id)', recipe: makeRecipe() }), /machine name "box\\n\$\(id\)" is not a safe name/);
  assert.throws(() => renderFirstBootScript({ machine: 'box', recipe: makeRecipe({ name: 'a b' }) }), /recipe name "a b" is not a safe name/);
  assert.throws(() => renderFirstBootScript({ machine: 'box', recipe: makeRecipe({ steps: ['ok', 'echo \x1b[2J'] }) }), /recipe test-recipe: steps\[1\] must not contain control characters/);
});

test('unit: oneshot, runs while the script exists, after the network, wanted by multi-user', () => {
  assert.is(
    renderFirstBootUnit(),
    [
      '# Written by nspawn-kit: runs the first-boot script once (it removes itself).',
      '[Unit]',
      'Description=nspawn-kit first boot (runs once)',
      'ConditionPathExists=/usr/local/lib/nspawn-kit/firstboot.sh',
      'Wants=network-online.target',
      'After=network-online.target',
      '',
      '[Service]',
      'Type=oneshot',
      'RemainAfterExit=no',
      'ExecStart=/bin/bash /usr/local/lib/nspawn-kit/firstboot.sh',
      'StandardOutput=journal+console',
      'StandardError=journal+console',
      'SyslogIdentifier=nspawn-kit-firstboot',
      'TimeoutStartSec=infinity',
      '',
      '[Install]',
      'WantedBy=multi-user.target',
      '',
    ].join('\n'),
  );
  assert.is(FIRSTBOOT_WANTS_LINK, '/etc/systemd/system/multi-user.target.wants/nspawn-kit-firstboot.service');
});

test('rc.local: the original recipe block, exit 0', () => {
  assert.is(renderRcLocal(), `#!/bin/sh\n# Written by nspawn-kit.\n${RC_BLOCK}exit 0\n`);
  assert.is(renderRcLocal('  \n'), `#!/bin/sh\n# Written by nspawn-kit.\n${RC_BLOCK}exit 0\n`);
});

test('rc.local: an existing one keeps its content, our block after its first line, once', () => {
  const existing = '#!/bin/sh -e\necho hello\nexit 0\n';
  const once = renderRcLocal(existing);
  assert.is(once, `#!/bin/sh -e\n${RC_BLOCK}echo hello\nexit 0\n`);
  assert.is(renderRcLocal(once), once);
  // Without an interpreter line, /bin/sh is put first.
  assert.is(renderRcLocal('echo hi\n'), `#!/bin/sh\n${RC_BLOCK}echo hi\n`);
});

test.run();
