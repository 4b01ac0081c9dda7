/**
 * apt's download status lines (real output of `apt-get -q -o APT::Status-Fd=1
 * download figlet hello sl` on Debian bookworm, apt 2.6) folded into progress
 * events with the totals of the lists.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { downloadProgress, parseDlStatus } from '../../src/mirror/apt-status.js';
import type { ProgressEvent } from '../../src/progress.js';

// Captured on this machine; sizes from the lists: figlet 136540, hello 53080, sl 13172 bytes.
const REAL = `dlstatus:1:0.0000:Retrieving file 1 of 3
dlstatus:1:0.0000:Retrieving file 1 of 3
dlstatus:1:0.0000:Retrieving file 1 of 3
dlstatus:1:0.0000:Retrieving file 1 of 3
dlstatus:1:0.0000:Retrieving file 1 of 3
Get:1 http://deb.debian.org/debian bookworm/main amd64 figlet amd64 2.2.5-3+b1 [137 kB]
dlstatus:1:0.0000:Retrieving file 1 of 3
dlstatus:2:60.5307:Retrieving file 2 of 3
dlstatus:2:60.5307:Retrieving file 2 of 3
Get:2 http://deb.debian.org/debian bookworm/main amd64 hello amd64 2.10-3 [53.1 kB]
dlstatus:3:88.1371:Retrieving file 3 of 3
Get:3 http://deb.debian.org/debian bookworm/main amd64 sl amd64 5.02-1+b1 [13.2 kB]
dlstatus:3:88.1371:Retrieving file 3 of 3
dlstatus:3:100.0000:Retrieving file 3 of 3
Fetched 203 kB in 0s (2402 kB/s)`.split('\n');
const TOTAL_BYTES = 136540 + 53080 + 13172;

test('parseDlStatus: the file in flight, how many, percent of bytes; anything else is not a status', () => {
  assert.equal(parseDlStatus('dlstatus:2:60.5307:Retrieving file 2 of 3'), { item: 2, items: 3, percent: 60.5307 });
  assert.equal(parseDlStatus('dlstatus:3:100.0000:Retrieving file 3 of 3'), { item: 3, items: 3, percent: 100 });
  for (const bad of ['Get:1 http://x bookworm/main amd64 sl amd64 5.02-1+b1 [13.2 kB]', 'dlstatus:1:100.5:Retrieving file 1 of 1', 'dlstatus:1:-1:Retrieving file 1 of 1', 'dlstatus:x:1:Retrieving file 1 of 1', 'dlstatus:1:1:Retrieving file 1 of 0', 'dlstatus:1:1:Retrieving file 1 of 1\u001b[2J', ''])
    assert.is(parseDlStatus(bad), undefined, bad);
});

test('downloadProgress on real output: 0 first, files done as apt moves on, bytes from its percent, never backwards, all done at 100%', () => {
  const events: ProgressEvent[] = [];
  const p = downloadProgress((e) => events.push(e), { stage: 'download bookworm-minimal', total: 3, totalBytes: TOTAL_BYTES });
  const logged = REAL.filter((l) => !p.onLine(l));
  assert.equal(logged, ['Fetched 203 kB in 0s (2402 kB/s)']);
  const ev = (done: number, bytes: number): ProgressEvent => ({ stage: 'download bookworm-minimal', done, total: 3, unit: 'packages', bytes, totalBytes: TOTAL_BYTES });
  assert.equal(events, [ev(0, 0), ev(1, Math.round(0.605307 * TOTAL_BYTES)), ev(2, Math.round(0.881371 * TOTAL_BYTES)), ev(3, TOTAL_BYTES)]);
  p.finish();
  assert.is(events.length, 4, 'finish after 100%: nothing more');
});

test('finish: apt succeeded without a last status line (e.g. nothing fetched over the network): done === total once', () => {
  const events: ProgressEvent[] = [];
  const p = downloadProgress((e) => events.push(e), { stage: 's', total: 2, totalBytes: 1000 });
  p.onLine('dlstatus:2:50.0000:Retrieving file 2 of 2');
  p.onLine('dlstatus:1:10.0000:Retrieving file 1 of 2');
  p.finish();
  p.finish();
  assert.equal(events.map((e) => [e.done, e.bytes]), [[0, 0], [1, 500], [2, 1000]]);
});

test('apt counting more files than the lists named: never over the totals', () => {
  const events: ProgressEvent[] = [];
  const p = downloadProgress((e) => events.push(e), { stage: 's', total: 1, totalBytes: 100 });
  p.onLine('dlstatus:3:99.0000:Retrieving file 3 of 3');
  assert.equal(events.at(-1), { stage: 's', done: 1, total: 1, unit: 'packages', bytes: 99, totalBytes: 100 });
});

test.run();
