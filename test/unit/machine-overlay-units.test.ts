// Pure parts of host-mounted overlay machines: the .mount unit and drop-in
// text, systemd-escape --path, the mountinfo parser and the host record.
// Expected values are literal (the escape ones checked once against
// `systemd-escape --path` 252).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mountUnitName, renderMountDropIn, renderMountUnit, systemdEscapePath } from '../../src/machine/overlay-units.js';
import { mountOption, parseMountInfo, topMountAt } from '../../src/proc.js';
import { parseOverlayRecord, overlayPaths } from '../../src/machine/overlay-state.js';

test('systemdEscapePath: what systemd-escape --path prints', () => {
  assert.is(systemdEscapePath('/var/lib/machines/web'), 'var-lib-machines-web');
  assert.is(systemdEscapePath('/var/lib/machines/my-box.1'), 'var-lib-machines-my\\x2dbox.1');
  assert.is(systemdEscapePath('/tmp/a b/c_d'), 'tmp-a\\x20b-c_d');
  assert.is(systemdEscapePath('/srv//m/.hidden/'), 'srv-m-.hidden');
  assert.is(systemdEscapePath('/.x/y'), '\\x2ex-y');
  assert.is(systemdEscapePath('/srv/ü'), 'srv-\\xc3\\xbc');
  assert.is(systemdEscapePath('/'), '-');
  assert.is(mountUnitName('/var/lib/machines/web-1'), 'var-lib-machines-web\\x2d1.mount');
});

test('renderMountUnit: overlay of the base, upper and work at the machine directory', () => {
  const text = renderMountUnit({
    machine: 'web',
    where: '/var/lib/machines/web',
    lower: '/var/lib/nspawn-kit/base/web-0123456789abcdef',
    upper: '/var/lib/nspawn-kit/overlay/web/upper',
    work: '/var/lib/nspawn-kit/overlay/web/work',
  });
  assert.is(
    text,
    [
      '# Written by nspawn-kit: machine web, its changes over its read-only base.',
      '[Unit]',
      'Description=nspawn-kit machine web (overlay over its base)',
      '',
      '[Mount]',
      'What=overlay',
      'Where=/var/lib/machines/web',
      'Type=overlay',
      'Options=lowerdir=/var/lib/nspawn-kit/base/web-0123456789abcdef,upperdir=/var/lib/nspawn-kit/overlay/web/upper,workdir=/var/lib/nspawn-kit/overlay/web/work',
      '',
    ].join('\n'),
  );
  // "%" is a specifier in unit files; a line break would start a setting of its own.
  const pct = renderMountUnit({ machine: 'w', where: '/srv/50%/w', lower: '/l', upper: '/u', work: '/w' });
  assert.ok(pct.includes('\nWhere=/srv/50%%/w\n'), pct);
  assert.throws(() => renderMountUnit({ machine: 'w', where: '/srv/w', lower: '/l\nWhat=/dev/sda', upper: '/u', work: '/w' }), /line break/);
});

test('renderMountDropIn: RequiresMountsFor= the machine directory, quoted when it has a space', () => {
  assert.is(renderMountDropIn('/var/lib/machines/web'), '# Written by nspawn-kit: the machine directory is an overlay mount.\n[Unit]\nRequiresMountsFor=/var/lib/machines/web\n');
  assert.ok(renderMountDropIn('/srv/my machines/web').endsWith('\nRequiresMountsFor="/srv/my machines/web"\n'));
});

test('parseMountInfo: point, type, source and super options, escapes decoded, the last mount on a point on top', () => {
  const text = [
    '27 1 0:25 / / rw,relatime shared:1 - ext4 /dev/vda1 rw',
    '44 27 0:39 / /srv/machines/web rw,relatime shared:20 - overlay overlay rw,lowerdir=/s/base/web-0123456789abcdef,upperdir=/s/overlay/web/upper,workdir=/s/overlay/web/work,uuid=on',
    '45 27 0:40 / /srv/my\\040dir rw - tmpfs tmpfs rw,size=1024k',
    '46 44 0:41 / /srv/machines/web rw - tmpfs none rw',
    '',
  ].join('\n');
  const entries = parseMountInfo(text);
  assert.equal(entries.map((e) => [e.point, e.fsType, e.source]), [
    ['/', 'ext4', '/dev/vda1'],
    ['/srv/machines/web', 'overlay', 'overlay'],
    ['/srv/my dir', 'tmpfs', 'tmpfs'],
    ['/srv/machines/web', 'tmpfs', 'none'],
  ]);
  assert.is(mountOption(entries[1]!.superOptions, 'upperdir'), '/s/overlay/web/upper');
  assert.is(mountOption(entries[1]!.superOptions, 'index'), undefined);
  assert.is(topMountAt(entries, '/srv/machines/web')?.fsType, 'tmpfs');
  assert.is(topMountAt(entries, '/srv/machines'), undefined);
});

test('overlay record: every field checked; paths under <stateDir>/overlay/<name>', () => {
  const good = { version: 1, machine: 'web', recipe: 'web', base: 'web-0123456789abcdef' };
  assert.equal(parseOverlayRecord({ ...good, extra: 1 }, 'r'), good);
  assert.throws(() => parseOverlayRecord({ ...good, base: '../../etc' }, 'r'), /base: expected/);
  assert.throws(() => parseOverlayRecord({ ...good, machine: '..' }, 'r'), /machine: expected/);
  assert.throws(() => parseOverlayRecord({ ...good, version: 2 }, 'r'), /version: expected 1/);
  assert.throws(() => parseOverlayRecord([], 'r'), /not a valid overlay record/);
  assert.equal(overlayPaths({ stateDir: '/var/lib/nspawn-kit' }, 'web'), {
    state: '/var/lib/nspawn-kit/overlay/web',
    upper: '/var/lib/nspawn-kit/overlay/web/upper',
    work: '/var/lib/nspawn-kit/overlay/web/work',
    record: '/var/lib/nspawn-kit/overlay/web/machine.json',
  });
});

test.run();
