/**
 * The embedded HTTP server: HEAD, Range, conditional requests (RFC 9110),
 * 404s for traversal, dot-directories, links out, FIFOs; and the staged
 * publish seen through it by a real apt client updating in a loop while the
 * mirror is republished 100+ times with changes between publishes.
 * Real apt resuming across a republish, apt-cacher-ng and nginx:
 * mirror-serve-clients.test.ts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn } from 'node:child_process';
import { request } from 'node:http';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Shell } from '../../src/shell.js';
import type { MirrorContext } from '../../src/mirror/context.js';
import { mirrorLayout, poolRelativePath, suiteListPath } from '../../src/mirror/layout.js';
import { stopGpgAgent } from '../../src/mirror/keys.js';
import { publishMirror } from '../../src/mirror/publish.js';
import { serveMirror, type MirrorServer } from '../../src/mirror/serve.js';
import { verifyMirror } from '../../src/mirror/verify.js';
import { makeConfig } from '../helpers/config.js';
import { makeDeb } from '../helpers/debs.js';
import { privateAptOptions } from '../helpers/apt.js';

const base = mkdtempSync(join(tmpdir(), 'nk-serve-'));
const config = makeConfig(base);
const ctx: MirrorContext = { sh: new Shell({ log: () => {} }), config };
const layout = mirrorLayout(config);
let server: MirrorServer;

/** Pool files for N packages; the suite list is chosen per round. */
const pool: string[] = [];
function buildPool(n: number): void {
  for (let i = 0; i < n; i++) {
    const rel = poolRelativePath({ name: `pkg${i}`, version: '1.0-1', architecture: 'amd64' });
    mkdirSync(dirname(join(layout.root, rel)), { recursive: true });
    copyFileSync(makeDeb(join(base, 'debs'), { name: `pkg${i}`, payloadBytes: 200 + i }), join(layout.root, rel));
    pool.push(rel);
  }
}
function setMembers(members: string[]): void {
  mkdirSync(layout.suites, { recursive: true });
  writeFileSync(suiteListPath(layout, 'bookworm'), [...members].sort().join('\n') + '\n');
}

function get(path: string, headers: Record<string, string> = {}, method = 'GET') {
  const url = new URL(server.url);
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }>((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error(`${method} ${path}: no answer within 5 s`)));
    req.end();
  });
}

test.before(async () => {
  buildPool(12);
  setMembers(pool.slice(0, 4));
  await publishMirror(ctx);
  server = await serveMirror(layout.root);
});

test('serve: GET, HEAD, content types, ranges, 404s and no way out of the root', async () => {
  assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  const deb = pool[0]!;
  const bytes = readFileSync(join(layout.root, deb));
  const full = await get(`/${deb}`);
  assert.is(full.status, 200);
  assert.ok(full.body.equals(bytes));
  assert.is(full.headers['content-type'], 'application/vnd.debian.binary-package');
  assert.is(full.headers['accept-ranges'], 'bytes');
  const head = await get(`/${deb}`, {}, 'HEAD');
  assert.is(head.status, 200);
  assert.is(Number(head.headers['content-length']), bytes.length);
  assert.is(head.body.length, 0);
  assert.match(String((await get('/dists/bookworm/InRelease')).headers['content-type']), /^text\/plain/);
  assert.is((await get('/dists/bookworm/main/binary-amd64/Packages.xz')).headers['content-type'], 'application/x-xz');

  const part = await get(`/${deb}`, { Range: 'bytes=10-19' });
  assert.is(part.status, 206);
  assert.is(part.headers['content-range'], `bytes 10-19/${bytes.length}`);
  assert.ok(part.body.equals(bytes.subarray(10, 20)));
  const suffix = await get(`/${deb}`, { Range: 'bytes=-5' });
  assert.ok(suffix.body.equals(bytes.subarray(bytes.length - 5)));
  const open = await get(`/${deb}`, { Range: `bytes=${bytes.length - 3}-` });
  assert.is(open.status, 206);
  assert.is(open.body.length, 3);
  const unsatisfiable = await get(`/${deb}`, { Range: `bytes=${bytes.length}-` });
  assert.is(unsatisfiable.status, 416);
  assert.is(unsatisfiable.headers['content-range'], `bytes */${bytes.length}`);

  assert.is((await get('/pool/main/n/nothing.deb')).status, 404);
  assert.is((await get('/dists')).status, 404, 'directories are not listed');
  const secret = join(base, 'secret.txt');
  writeFileSync(secret, 'outside the root');
  for (const path of ['/../secret.txt', '/pool/../../secret.txt', '/%2e%2e/secret.txt', '/pool/%2E%2E/%2E%2E/secret.txt', '/..%2fsecret.txt', '/.staging', '/%00']) {
    const res = await get(path);
    assert.is(res.status, 404, path);
    assert.not.match(res.body.toString(), 'outside the root');
  }
  symlinkSync(secret, join(layout.root, 'escape.txt'));
  assert.is((await get('/escape.txt')).status, 404, 'symlink out of the root');
  symlinkSync(join(layout.root, deb), join(layout.root, 'inside.deb'));
  assert.ok((await get('/inside.deb')).body.equals(bytes), 'symlink inside the root');
  assert.is((await get(`/${deb}`, {}, 'POST')).status, 405);
});

test('serve: judged on the resolved path and the open file: dot-directories via links, links out, FIFOs, encoded traversal', async () => {
  mkdirSync(join(layout.root, '.hidden'), { recursive: true });
  writeFileSync(join(layout.root, '.hidden', 'key.asc'), 'SECRET KEY');
  symlinkSync('.hidden', join(layout.root, 'visible'));
  symlinkSync(join(layout.root, '.hidden', 'key.asc'), join(layout.root, 'key.asc'));
  symlinkSync('/etc', join(layout.root, 'etc'));
  for (const path of ['/visible/key.asc', '/key.asc', '/.hidden/key.asc', '/%2ehidden/key.asc', '/etc/passwd', '/etc%2fpasswd', '/pool%2f..%2f..%2fsecret.txt', '/pool/%2e%2e%2f%2e%2e%2fsecret.txt', '/dists%00/bookworm/InRelease', '/dists/bookworm/InRelease%00.deb', '/pool%5c..%5c..%5csecret.txt']) {
    const res = await get(path);
    assert.is(res.status, 404, path);
    assert.not.match(res.body.toString(), /SECRET|root:/, path);
  }
  const fifo = join(layout.root, 'pool', 'fifo.deb');
  execFileSync('mkfifo', ['--', fifo]);
  const started = Date.now();
  for (let i = 0; i < 6; i++) assert.is((await get('/pool/fifo.deb')).status, 404, 'a FIFO is not served');
  assert.ok(Date.now() - started < 3000, `six FIFO requests took ${Date.now() - started} ms`);
  const after = await get('/dists/bookworm/InRelease');
  assert.is(after.status, 200, 'the server still answers after the FIFO requests');
  assert.ok(after.body.equals(readFileSync(join(layout.root, 'dists/bookworm/InRelease'))));
  rmSync(fifo);
});

test('serve: strong ETag, Last-Modified, 304 for If-None-Match and If-Modified-Since, If-Range decides between 206 and 200', async () => {
  const rel = 'dists/bookworm/InRelease';
  const path = join(layout.root, rel);
  // An old mtime: its Last-Modified date is sent at once (a file changed in the current second waits for the next).
  utimesSync(path, new Date('2026-01-02T03:04:05.678Z'), new Date('2026-01-02T03:04:05.678Z'));
  const bytes = readFileSync(path);
  const full = await get(`/${rel}`);
  assert.is(full.status, 200);
  const etag = String(full.headers.etag);
  assert.match(etag, /^"[0-9a-f]+(-[0-9a-f]+){3}"$/, 'a strong entity-tag');
  assert.is(full.headers['last-modified'], 'Fri, 02 Jan 2026 03:04:05 GMT');
  const head = await get(`/${rel}`, {}, 'HEAD');
  assert.equal([head.status, head.headers.etag, Number(head.headers['content-length']), head.body.length], [200, etag, bytes.length, 0]);

  const inm = await get(`/${rel}`, { 'If-None-Match': etag });
  assert.equal([inm.status, inm.body.length, inm.headers.etag], [304, 0, etag]);
  assert.is((await get(`/${rel}`, { 'If-None-Match': '"other"' })).status, 200);
  assert.is((await get(`/${rel}`, { 'If-Modified-Since': 'Fri, 02 Jan 2026 03:04:05 GMT' })).status, 304);
  assert.is((await get(`/${rel}`, { 'If-Modified-Since': 'Fri, 02 Jan 2026 03:04:04 GMT' })).status, 200);
  assert.is((await get(`/${rel}`, { 'If-None-Match': '"other"', 'If-Modified-Since': 'Fri, 02 Jan 2026 03:04:05 GMT' })).status, 200, 'If-None-Match wins');
  assert.is((await get(`/${rel}`, { 'If-Match': '"other"' })).status, 412);

  const ranged = await get(`/${rel}`, { Range: 'bytes=100-', 'If-Range': etag });
  assert.is(ranged.status, 206, 'the current strong tag: the range is sent');
  assert.ok(ranged.body.equals(bytes.subarray(100)));
  for (const stale of ['"0-0-0-0"', `W/${etag}`, 'Fri, 02 Jan 2026 03:04:05 GMT', 'Sat, 03 Jan 2026 00:00:00 GMT']) {
    const res = await get(`/${rel}`, { Range: 'bytes=100-', 'If-Range': stale });
    assert.is(res.status, 200, `If-Range ${stale}: the whole file`);
    assert.is(res.headers['content-range'], undefined);
    assert.ok(res.body.equals(bytes), stale);
  }
  const unsatisfiable = await get(`/${rel}`, { Range: `bytes=${bytes.length + 10}-`, 'If-Range': '"0-0-0-0"' });
  assert.is(unsatisfiable.status, 200, 'a stale If-Range makes even an unsatisfiable range a full 200, not 416');

  // The file replaced by a new one of the same size and the same second: new tag, no 304 and no range for the old one.
  const next = `${path}.next`;
  writeFileSync(next, Buffer.from(bytes.toString('latin1').replace(/Date: [^\n]*/, (d) => d.replace(/\d/g, (c) => String((Number(c) + 1) % 10))), 'latin1'));
  assert.is(statSync(next).size, bytes.length);
  utimesSync(next, new Date('2026-01-02T03:04:05.900Z'), new Date('2026-01-02T03:04:05.900Z'));
  const newBytes = readFileSync(next);
  renameSync(next, path);
  assert.is((await get(`/${rel}`, { 'If-None-Match': etag })).status, 200);
  const resumed = await get(`/${rel}`, { Range: 'bytes=100-', 'If-Range': etag });
  assert.is(resumed.status, 200, 'the old tag: the whole new file');
  assert.ok(resumed.body.equals(newBytes));
  assert.not.ok(newBytes.equals(bytes));
  writeFileSync(next, bytes); // the signed InRelease back for the next test
  renameSync(next, path);
});

test('serve: a file changed within the current second gets its Last-Modified once the second is over, from the file then at that path', async () => {
  const path = join(layout.root, 'pool', 'race.txt');
  const replace = (text: string) => {
    writeFileSync(`${path}.new`, text);
    renameSync(`${path}.new`, path);
  };
  await new Promise((r) => setTimeout(r, 1050 - (Date.now() % 1000))); // 50 ms into a second
  replace('version A\n');
  const second = Math.floor(statSync(path).mtimeMs / 1000);
  const pending = get('/pool/race.txt');
  await new Promise((r) => setTimeout(r, 200));
  replace('version B, same second\n');
  assert.is(Math.floor(statSync(path).mtimeMs / 1000), second, 'both versions were written within one second');
  const res = await pending;
  assert.is(res.body.toString(), 'version B, same second\n', 'the file at the path once the second was over');
  const lastModified = new Date(second * 1000).toUTCString();
  assert.is(res.headers['last-modified'], lastModified);
  assert.ok(Date.parse(String(res.headers.date)) > second * 1000, 'sent after the second of the Last-Modified');
  assert.is((await get('/pool/race.txt', { 'If-Modified-Since': lastModified })).status, 304, 'B is current: its own date is fresh');
  rmSync(path);
});

/** Runs apt-get without blocking the event loop (the server lives in this process). */
function aptGet(dir: string, args: string[]): Promise<{ code: number | null; out: string }> {
  const opts = privateAptOptions(dir, ['Acquire::http::Proxy=false']);
  return new Promise((resolve) => {
    const child = spawn('apt-get', [...opts, ...args], { env: { ...process.env, LC_ALL: 'C' } });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.on('close', (code) => resolve({ code, out }));
  });
}

test('apt-get update in a loop over HTTP never sees a mismatch while the mirror is republished 105 times', async () => {
  const dir = mkdtempSync(join(base, 'apt-'));
  for (const d of ['parts', 'state/lists/partial', 'cache/archives/partial', 'empty']) mkdirSync(join(dir, d), { recursive: true });
  writeFileSync(join(dir, 'status'), '');
  writeFileSync(
    join(dir, 'parts', 'mirror.sources'),
    ['Types: deb', `URIs: ${server.url}`, 'Suites: bookworm', 'Components: main', `Signed-By: ${layout.publicKeyAsc}`, ''].join('\n'),
  );
  const PUBLISHES = 105;
  let publishing = true;
  let updates = 0;
  let fetchedIndices = 0;
  const failures: string[] = [];
  const client = (async () => {
    while (publishing) {
      const r = await aptGet(dir, ['update']);
      updates++;
      fetchedIndices += (r.out.match(/^Get:\d+ \S+ bookworm\/main amd64 Packages/gm) ?? []).length;
      if (r.code !== 0 || /^(E|W|Err):/m.test(r.out) || /Hash Sum mismatch|BADSIG|signatures were invalid/.test(r.out)) failures.push(r.out);
    }
  })();
  try {
    for (let i = 0; i < PUBLISHES; i++) {
      // A different member set every round: new Packages, new by-hash files, new InRelease.
      setMembers(pool.filter((_, k) => k < 2 || ((i + 1) >> (k % 6)) % 2 === 1 || k === 2 + (i % 10)));
      await publishMirror(ctx);
    }
  } finally {
    publishing = false;
    await client;
  }
  assert.equal(failures.slice(0, 2), [], `${failures.length} of ${updates} updates failed`);
  assert.ok(updates >= 10, `the client ran ${updates} updates`);
  assert.ok(fetchedIndices >= 5, `the client fetched changed indices ${fetchedIndices} times`);
  const final = await aptGet(dir, ['update']);
  assert.is(final.code, 0, final.out);
  assert.equal((await verifyMirror(ctx)).problems, []);
});

test.after(async () => {
  await server?.close();
  await stopGpgAgent(ctx);
  rmSync(base, { recursive: true, force: true });
});

test.run();
