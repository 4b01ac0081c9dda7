/** parseFetched: the bytes apt-get update reports in its "Fetched" line (SI units, apt's thousands separators). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseFetched } from '../../src/mirror/apt-root.js';

test('apt units are powers of 1000, commas are thousands separators', () => {
  assert.is(parseFetched('Get:1 http://deb.debian.org/debian bookworm-updates InRelease [55.4 kB]\nFetched 55.4 kB in 0s (187 kB/s)\nReading package lists...'), 55400);
  assert.is(parseFetched('Fetched 9,108 kB in 2s (4,390 kB/s)'), 9108000);
  assert.is(parseFetched('Fetched 1.2 MB in 1s (1.2 MB/s)'), 1200000);
  assert.is(parseFetched('Fetched 0 B in 0s (0 B/s)'), 0);
  assert.is(parseFetched('Fetched 512 B in 0s (3 kB/s)'), 512);
});

test('no Fetched line (file:// sources, nothing fetched): 0', () => {
  assert.is(parseFetched('Get:1 file:/srv/debian bookworm InRelease [878 B]\nReading package lists...'), 0);
  assert.is(parseFetched(''), 0);
});

test.run();
