import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { makeConfig, makeRecipe } from '../helpers/config.js';
import { networkLines, renderNspawnFile, renderNspawnServiceOverride } from '../../src/machine/nspawn-file.js';
import { isNspawnOn } from '../../src/machine/boot.js';

const config = makeConfig('/srv/nk');
const lines = (text: string) => text.split('\n');

test('.nspawn: boot, private users, mirror bound read-only, recipe binds', () => {
  const recipe = makeRecipe({
    nspawn: { network: 'host', binds: ['/srv/data:/data'], bindsReadOnly: ['/srv/ro'], privateUsers: 'pick' },
  });
  const text = lines(renderNspawnFile('box', recipe, config));
  for (const l of ['[Exec]', 'Boot=yes', 'PrivateUsers=pick', 'ResolvConf=replace-host', '[Network]', 'Private=no', 'VirtualEthernet=no', '[Files]',
    'BindReadOnly=/srv/nk/mirror:/var/local/nspawn-kit-mirror', 'BindReadOnly=/srv/ro', 'Bind=/srv/data:/data']) {
    assert.ok(text.includes(l), l);
  }
  assert.not.ok(text.some((l) => /capability/i.test(l)));
});

test('.nspawn: network modes', () => {
  assert.equal(networkLines('host'), ['Private=no', 'VirtualEthernet=no']);
  assert.equal(networkLines('private'), ['Private=yes', 'VirtualEthernet=no']);
  assert.equal(networkLines('veth'), ['Private=yes', 'VirtualEthernet=yes']);
  const veth = lines(renderNspawnFile('box', makeRecipe({ nspawn: { network: 'veth', binds: [], bindsReadOnly: [], privateUsers: true } }), config));
  assert.ok(veth.includes('VirtualEthernet=yes') && veth.includes('PrivateUsers=yes'));
  assert.not.ok(veth.some((l) => l.startsWith('ResolvConf=')), 'private network: resolv.conf is the container\'s own');
  const off = lines(renderNspawnFile('box', makeRecipe(), config));
  assert.ok(off.includes('PrivateUsers=no'));
});

test('.nspawn: a colon in the mirror path is escaped; a line break in a bind is refused', () => {
  const odd = makeConfig('/srv/a:b');
  assert.ok(lines(renderNspawnFile('box', makeRecipe(), odd)).includes('BindReadOnly=/srv/a\\:b/mirror:/var/local/nspawn-kit-mirror'));
  const bad = makeRecipe({ nspawn: { network: 'host', binds: ['/x\nPrivateUsers=no'], bindsReadOnly: [], privateUsers: 'pick' } });
  assert.throws(() => renderNspawnFile('box', bad, config), /line break/);
});

test('service override: the original recipe ExecStart, --directory always (list and rm find a machinectl-started machine by it)', () => {
  const std = renderNspawnServiceOverride('/var/lib/machines');
  assert.is(std, '# Written by nspawn-kit.\n[Service]\nExecStart=\nExecStart=systemd-nspawn --quiet --keep-unit --boot --link-journal=try-guest --machine=%i --directory=/var/lib/machines/%i\n');
  const other = renderNspawnServiceOverride('/srv/machines/');
  assert.ok(other.endsWith('--machine=%i --directory=/srv/machines/%i\n'));
  const trusted = renderNspawnServiceOverride('/srv/machines', true);
  assert.ok(trusted.endsWith('--machine=%i --settings=trusted --directory=/srv/machines/%i\n'), trusted);
});

test('service override: the systemd-nspawn that machinectl start runs is found on the machine root (default machines dir too)', () => {
  for (const dir of ['/var/lib/machines', '/srv/machines']) {
    const execStart = renderNspawnServiceOverride(dir).split('\n').filter((l) => l.startsWith('ExecStart=systemd-nspawn'));
    assert.is(execStart.length, 1);
    // systemd replaces %i with the instance; these paths need no unquoting.
    const argv = (execStart[0] ?? '').slice('ExecStart='.length).replaceAll('%i', 'web').split(' ');
    assert.ok(isNspawnOn(argv, `${dir}/web`), argv.join(' '));
    assert.not.ok(isNspawnOn(argv, `${dir}/webx`));
  }
});

test.run();
