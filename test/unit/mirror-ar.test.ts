/**
 * The strict ar reader of .debs (src/mirror/ar.ts) on archives crafted byte
 * by byte: every layout deb(5) allows is accepted with its members, every
 * other one is refused with the exact reason.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkDebLayout, type DebLayout } from '../../src/mirror/ar.js';
import { arArchive, type ArPart } from '../helpers/debs.js';

const part = (name: string, data: string | Buffer): ArPart => ({ name, data: Buffer.isBuffer(data) ? data : Buffer.from(data, 'latin1') });
const binary = part('debian-binary', '2.0\n');
const control = part('control.tar.gz', 'C'.repeat(11));
const data = part('data.tar.xz', 'D'.repeat(20));

function check(buf: Buffer): Promise<DebLayout> {
  return checkDebLayout(buf.length, async (position, length) => buf.subarray(position, position + length));
}

async function reason(buf: Buffer): Promise<string> {
  const r = await check(buf);
  assert.is(r.ok, false, 'must be refused');
  return r.ok ? '' : r.reason;
}

test('a well-formed .deb: members, offsets and sizes, odd sizes padded with "\\n"', async () => {
  const buf = arArchive([binary, control, data]);
  assert.equal(await check(buf), {
    ok: true,
    size: buf.length,
    members: [
      { name: 'debian-binary', offset: 68, size: 4 },
      { name: 'control.tar.gz', offset: 132, size: 11 },
      { name: 'data.tar.xz', offset: 204, size: 20 },
    ],
  });
});

test('every compression deb(5) names, names with a trailing "/", and _ members before, between and after', async () => {
  for (const c of ['control.tar', 'control.tar.gz', 'control.tar.xz', 'control.tar.zst']) {
    for (const d of ['data.tar', 'data.tar.gz', 'data.tar.xz', 'data.tar.zst', 'data.tar.bz2']) {
      const r = await check(arArchive([binary, part(`${c}/`, 'c'), part(d, 'dd')]));
      assert.ok(r.ok, `${c} + ${d}`);
    }
  }
  const r = await check(arArchive([binary, part('_first', 'x'), control, part('_mid', 'yy'), data, part('_gpgorigin', 'sig')]));
  assert.equal(r.ok && r.members.map((m) => m.name), ['debian-binary', '_first', 'control.tar.gz', '_mid', 'data.tar.xz', '_gpgorigin']);
});

test('a second control member after data.tar is refused (dpkg-deb and apt-ftparchive would read different ones)', async () => {
  assert.is(await reason(arArchive([binary, control, data, part('control.tar.xz', 'other')])), 'control member control.tar.xz after data.tar');
  assert.is(await reason(arArchive([binary, control, data, control])), 'duplicate ar member control.tar.gz');
  assert.is(await reason(arArchive([binary, control, data, part('data.tar.gz', 'x')])), 'data member data.tar.gz out of order');
});

test('bytes after the last member are refused, short or header-sized', async () => {
  const good = arArchive([binary, control, data]);
  assert.is(await reason(Buffer.concat([good, Buffer.from('garbage!')])), '8 unexpected byte(s) after the last member (data.tar.xz) at offset 224');
  assert.is(await reason(Buffer.concat([good, Buffer.from('\n')])), '1 unexpected byte(s) after the last member (data.tar.xz) at offset 224');
  assert.match(await reason(Buffer.concat([good, Buffer.alloc(100, 0x41)])), /^bad ar member header at offset 224: no "`\\n" terminator/);
});

test('wrong order, missing, unknown and extra members', async () => {
  assert.is(await reason(arArchive([control, binary, data])), 'not a Debian archive: first member is control.tar.gz, not debian-binary');
  assert.is(await reason(arArchive([binary, data, control])), 'data member data.tar.xz before control.tar');
  assert.is(await reason(arArchive([binary, control])), 'no data.tar member');
  assert.is(await reason(arArchive([binary])), 'no control.tar member');
  assert.is(await reason(arArchive([])), 'not a Debian archive: no ar members');
  assert.match(await reason(arArchive([binary, control, part('extra', 'x'), data])), /^unexpected ar member extra \(deb\(5\) allows only/);
  assert.match(await reason(arArchive([binary, control, data, part('zz', 'x')])), /^unexpected ar member zz after data\.tar/);
  assert.match(await reason(arArchive([binary, control, part('data.tar.lz4', 'x')])), /^unexpected ar member data\.tar\.lz4/);
  const many = arArchive([binary, control, data, ...Array.from({ length: 14 }, (_, i) => part(`_m${i}`, 'x'))]);
  assert.is(await reason(many), 'more than 16 ar members');
});

test('debian-binary must hold exactly "2.0\\n"', async () => {
  assert.match(await reason(arArchive([part('debian-binary', '3.0\n'), control, data])), /^unsupported format: debian-binary holds "3\.0\\n"/);
  assert.match(await reason(arArchive([part('debian-binary', '2.0\nx\n'), control, data])), /^unsupported format/);
});

test('magic, header fields, sizes and padding are checked exactly', async () => {
  const good = arArchive([binary, control, data]);
  assert.match(await reason(Buffer.from('!<thin>\n')), /^not a Debian archive: no ar magic/);
  assert.is(await reason(Buffer.from('!<ar')), 'not a Debian archive: 4 bytes, too short for an ar archive');
  const edit = (offset: number, text: string): Buffer => {
    const b = Buffer.from(good);
    b.write(text, offset, 'latin1');
    return b;
  };
  // Header of debian-binary at 8: name 8..24, date 24..36, owner ..42, group ..48, mode ..56, size ..66, "`\n" ..68.
  assert.match(await reason(edit(66, '`x')), /^bad ar member header at offset 8: no "`\\n" terminator/);
  assert.match(await reason(edit(8, 'debian\nbinary   ')), /^bad ar member header at offset 8: member name "debian\\nbinary   "/);
  assert.match(await reason(edit(8, '#1/20           ')), /member name "#1\/20/);
  assert.match(await reason(edit(56, '-4        ')), /^bad ar member header at offset 8 \(debian-binary\): size "-4        "/);
  assert.match(await reason(edit(56, '0x4       ')), /size "0x4/);
  assert.match(await reason(edit(48, '0009    ')), /\(debian-binary\): mode "0009    "/);
  assert.match(await reason(edit(24, '1e9         ')), /\(debian-binary\): date/);
  // data.tar.xz's header is at 204 - 60 = 144; its size field at 192.
  assert.is(await reason(edit(192, '99        ')), 'truncated: member data.tar.xz claims 99 bytes, 20 left');
  // control.tar.gz has 11 bytes: its padding byte is at 132 + 11 = 143.
  assert.is(await reason(edit(143, 'X')), 'bad padding byte "X" after member control.tar.gz at offset 143');
  const noPad = arArchive([binary, control, part('data.tar', 'odd')]);
  assert.is(await reason(noPad.subarray(0, noPad.length - 1)), 'truncated: no padding byte after the odd-sized member data.tar');
  assert.is(await reason(good.subarray(0, 150)), '6 unexpected byte(s) after the last member (control.tar.gz) at offset 144');
});

test.run();
