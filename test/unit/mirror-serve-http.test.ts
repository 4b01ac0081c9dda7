/** Pure pieces of `mirror serve`: which URL paths and real paths may be served, validators, If-Range, content types. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { contentType, httpDate, ifRangeHolds, msUntilDateIsStrong, strongEtag } from '../../src/mirror/serve-http.js';
import { isServablePath, urlSegments } from '../../src/mirror/serve-path.js';

test('URL paths: segments, or refused for dot segments, encoded traversal, NUL, backslash, bad escapes', () => {
  assert.equal(urlSegments('/dists/bookworm/InRelease'), ['dists', 'bookworm', 'InRelease']);
  assert.equal(urlSegments('//pool//main/a%20b.deb'), ['pool', 'main', 'a b.deb']);
  assert.equal(urlSegments('/'), []);
  for (const bad of ['/../x', '/%2e%2e/x', '/pool/%2E%2E/%2e%2e/x', '/..%2fx', '/a/%2f..%2fx', '/.staging/x', '/dists/.git', '/x%00', '/a%5c..%5cx', '/%zz', '/a\\b']) {
    assert.is(urlSegments(bad), undefined, bad);
  }
});

test('real paths: inside the root, not the root itself, no dot component below the root', () => {
  assert.ok(isServablePath('/srv/m', '/srv/m/dists/bookworm/InRelease'));
  assert.ok(isServablePath('/home/u/.mirror', '/home/u/.mirror/pool/a.deb'), 'a dot above the root is not ours to judge');
  assert.not.ok(isServablePath('/srv/m', '/srv/m'));
  assert.not.ok(isServablePath('/srv/m', '/srv/mirror2/a.deb'));
  assert.not.ok(isServablePath('/srv/m', '/srv/secret'));
  assert.not.ok(isServablePath('/srv/m', '/srv/m/.staging/dists/InRelease'));
  assert.not.ok(isServablePath('/srv/m', '/srv/m/pool/.hidden/a.deb'));
  assert.not.ok(isServablePath('/srv/m', '/etc/passwd'));
});

test('strong entity-tag: device, inode, size and mtime in nanoseconds; any of them changes it', () => {
  const st = { dev: 2049n, ino: 131n, size: 4096n, mtimeNs: 1764460800123456789n };
  assert.is(strongEtag(st), '"801-83-1000-187c9fbfcb75cd15"');
  assert.not.match(strongEtag(st), /^W\//);
  for (const k of ['dev', 'ino', 'size', 'mtimeNs'] as const) assert.is.not(strongEtag({ ...st, [k]: st[k] + 1n }), strongEtag(st), k);
});

test('a Last-Modified date is strong only once its second is over; a future mtime gets no date', () => {
  assert.is(msUntilDateIsStrong(10_250, 11_000), 0);
  assert.is(msUntilDateIsStrong(10_250, 99_999), 0);
  assert.is(msUntilDateIsStrong(10_250, 10_900), 100);
  assert.is(msUntilDateIsStrong(10_000, 10_000), 1000);
  assert.is(msUntilDateIsStrong(10_250, 10_250), 750);
  assert.is(msUntilDateIsStrong(10_250, 9_100), undefined, 'mtime more than a second ahead of the clock');
  assert.is(msUntilDateIsStrong(10_250, 10_001), 999);
  assert.is(msUntilDateIsStrong(50_000, 10_000), undefined);
  assert.is(httpDate(Date.UTC(2026, 10, 30, 10, 0, 5, 999)), 'Mon, 30 Nov 2026 10:00:05 GMT');
});

test('If-Range holds only for the current strong entity-tag; never for a weak tag or a date', () => {
  const etag = '"801-83-1000-187c9fbfcb75cd15"';
  assert.ok(ifRangeHolds(etag, etag));
  assert.ok(ifRangeHolds(` ${etag} `, etag));
  assert.not.ok(ifRangeHolds(`W/${etag}`, etag));
  assert.not.ok(ifRangeHolds('"801-83-1000-187c9fbfcb75cd16"', etag));
  assert.not.ok(ifRangeHolds('Mon, 30 Nov 2026 10:00:05 GMT', etag));
  assert.not.ok(ifRangeHolds(`${etag}, "x"`, etag));
});

test('content types apt and browsers expect', () => {
  assert.is(contentType('/pool/main/h/hello/hello_1_amd64.deb'), 'application/vnd.debian.binary-package');
  assert.is(contentType('/dists/bookworm/InRelease'), 'text/plain; charset=utf-8');
  assert.is(contentType('/dists/bookworm/main/binary-amd64/Packages'), 'text/plain; charset=utf-8');
  assert.is(contentType('/dists/bookworm/main/binary-amd64/Packages.xz'), 'application/x-xz');
  assert.is(contentType('/dists/bookworm/main/binary-amd64/Packages.gz'), 'application/gzip');
  assert.is(contentType('/mirror.asc'), 'application/pgp-keys');
  assert.is(contentType('/mirror.gpg'), 'application/pgp-keys');
  assert.is(contentType('/dists/bookworm/Release.gpg'), 'application/pgp-signature');
  assert.is(contentType('/dists/bookworm/main/binary-amd64/by-hash/SHA256/abc'), 'application/octet-stream');
});

test.run();
