import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { flockHolders } from '../../src/mirror/lock-holder.js';

// /proc/locks as Linux prints it: the lock file is inode 2148848 on fe:00 (dev 65024);
// another file on 103:01 (dev 66305 = makedev(259, 1)) has the same inode number.
const PROC_LOCKS = [
  '1: FLOCK  ADVISORY  WRITE 22170 fe:00:1458184 0 EOF',
  '2: FLOCK  ADVISORY  WRITE 22147 fe:00:2148848 0 EOF',
  '2: -> FLOCK  ADVISORY  WRITE 22301 fe:00:2148848 0 EOF',
  '3: POSIX  ADVISORY  WRITE 901 fe:00:2148848 0 EOF',
  '4: FLOCK  ADVISORY  WRITE 555 103:01:2148848 0 EOF',
  '5: OFDLCK ADVISORY  READ  -1 fe:00:2148848 0 EOF',
  '',
].join('\n');

test('the flock holders of one file: waiters, POSIX/OFD locks and other files are left out', () => {
  assert.equal(flockHolders(PROC_LOCKS, 65024, 2148848), [22147]);
});

test('a device number is split as Linux prints it (hex major:minor)', () => {
  assert.equal(flockHolders(PROC_LOCKS, 66305, 2148848), [555]);
  assert.equal(flockHolders(PROC_LOCKS, 65024, 1458184), [22170]);
});

test('no holder: a free lock, an unknown inode, an empty or garbled table', () => {
  assert.equal(flockHolders(PROC_LOCKS, 65024, 7), []);
  assert.equal(flockHolders('', 65024, 2148848), []);
  assert.equal(flockHolders('x: FLOCK what ever\n1:FLOCK', 65024, 2148848), []);
});

test('a holder from a PID namespace we cannot see (0 or -1) is not named', () => {
  const table = '1: FLOCK  ADVISORY  WRITE 0 fe:00:2148848 0 EOF\n2: FLOCK  ADVISORY  WRITE -1 fe:00:2148848 0 EOF\n';
  assert.equal(flockHolders(table, 65024, 2148848), []);
});

test('shared (READ) flocks: every holder, once each', () => {
  const table = '1: FLOCK  ADVISORY  READ 10 fe:00:5 0 EOF\n2: FLOCK  ADVISORY  READ 11 fe:00:5 0 EOF\n3: FLOCK  ADVISORY  READ 10 fe:00:5 0 EOF\n';
  assert.equal(flockHolders(table, 65024, 5), [10, 11]);
});

test.run();
