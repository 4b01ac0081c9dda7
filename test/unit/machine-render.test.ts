import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { assertSingleLine, renderHostname, renderHosts, renderStanza, shellQuote, systemdWord } from '../../src/machine/render.js';
import { OperationError } from '../../src/errors.js';
import { renderNspawnServiceOverride } from '../../src/machine/nspawn-file.js';
import { unitWord } from '../../src/quote.js';

test('hostname and hosts: the name on 127.0.1.1, localhost kept', () => {
  assert.is(renderHostname('web1'), 'web1\n');
  const hosts = renderHosts('web1').split('\n');
  assert.ok(hosts.includes('127.0.0.1\tlocalhost'));
  assert.ok(hosts.includes('127.0.1.1\tweb1'));
  assert.ok(hosts.some((l) => l.startsWith('::1') && l.includes('localhost')));
});

test('settings values with a line break are refused (no injected settings line)', () => {
  assert.throws(() => assertSingleLine('a\nTrusted: yes', 'URIs'), (e: unknown) => e instanceof OperationError && /URIs/.test((e as Error).message));
  assert.throws(() => renderStanza([['URIs', 'http://x/\n[trusted=yes]']]));
  assert.is(renderStanza([['Types', 'deb']], ['hello']), '# hello\nTypes: deb\n');
});

test('systemdWord doubles % and quotes spaces, keeps specifiers', () => {
  assert.is(systemdWord('--directory=/srv/m/', '%i'), '--directory=/srv/m/%i');
  assert.is(systemdWord('--directory=/srv/100%/'), '--directory=/srv/100%%/');
  assert.is(systemdWord('--directory=/srv/my machines/', '%i'), '"--directory=/srv/my machines/%i"');
});

test('one systemd quoting: "$" is doubled on a command line (systemd.service(5)) and literal in a path list; control characters refused', () => {
  // ExecStart= of the systemd-nspawn@ drop-in: systemd would expand $HOME there.
  assert.is(systemdWord('--directory=/srv/$HOME/', '%i'), '"--directory=/srv/$$HOME/%i"');
  assert.is(
    renderNspawnServiceOverride('/srv/$m'),
    '# Written by nspawn-kit.\n[Service]\nExecStart=\nExecStart=systemd-nspawn --quiet --keep-unit --boot --link-journal=try-guest --machine=%i "--directory=/srv/$$m/%i"\n',
  );
  // ReadWritePaths= and other word lists: no variable expansion, so "$" stays single.
  assert.is(unitWord('-/srv/$m 1/100%'), '"-/srv/$m 1/100%%"');
  assert.is(unitWord('/srv/"q"\\x'), '"/srv/\\"q\\"\\\\x"');
  for (const bad of ['/srv/a\nExecStartPre=/bin/sh', '/srv/\u001b[2J']) {
    assert.throws(() => systemdWord(bad), (e: unknown) => e instanceof OperationError && /unit argument contains a line break or control character/.test((e as Error).message));
  }
});

test.run();
