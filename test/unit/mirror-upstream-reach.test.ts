/**
 * The upstream check of `mirror warm`: a real HTTP server on 127.0.0.1
 * answers (InRelease, only Release, a redirect, 404), a port where nothing
 * listens refuses, a file:// archive is looked at on disk; apt-get update's
 * "Failed to fetch" lines become the same error.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, type Server } from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertUpstreamsReachable, failedFetches, unreachableFromApt } from '../../src/mirror/upstream-reach.js';
import { CommandError, OperationError } from '../../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'nk-reach-'));
const seen: string[] = [];
let server: Server;
let url = '';

test.before(async () => {
  server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    const path = req.url ?? '';
    if (path === '/ok/dists/bookworm/InRelease' || path === '/rel/dists/bookworm/Release') res.writeHead(200).end();
    else if (path.startsWith('/moved/')) res.writeHead(301, { location: path.replace('/moved/', '/ok/') }).end();
    else res.writeHead(404, 'Not Found').end();
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const addr = server.address();
  url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
});
test.after(() => {
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

const recipe = (upstream: string, suites = ['bookworm']) => ({ name: 'r', suites, upstream, upstreams: Object.fromEntries(suites.map((s) => [s, upstream])) });

async function problemLines(r: ReturnType<typeof recipe>): Promise<string[] | undefined> {
  try {
    await assertUpstreamsReachable(r);
    return undefined;
  } catch (err) {
    assert.instance(err, OperationError);
    const [head, ...rest] = (err as OperationError).message.split('\n');
    assert.is(head, 'the upstream of recipe r could not be reached:');
    return rest;
  }
}

test('answering upstreams pass: InRelease, or Release only, or after a redirect (HEAD requests)', async () => {
  assert.is(await problemLines(recipe(`${url}/ok`)), undefined);
  assert.is(await problemLines(recipe(`${url}/rel/`)), undefined);
  assert.is(await problemLines(recipe(`${url}/moved`)), undefined);
  assert.ok(seen.includes('HEAD /rel/dists/bookworm/InRelease') && seen.includes('HEAD /rel/dists/bookworm/Release'), seen.join(', '));
});

test('a 404 for both files and a refused connection are named per suite', async () => {
  assert.equal(await problemLines(recipe(`${url}/none`, ['bookworm', 'bookworm-updates'])), [
    `  bookworm: ${url}/none/dists/bookworm/InRelease: HTTP 404 Not Found`,
    `  bookworm-updates: ${url}/none/dists/bookworm-updates/InRelease: HTTP 404 Not Found`,
  ]);
  assert.equal(await problemLines(recipe('http://127.0.0.1:1/debian')), ['  bookworm: http://127.0.0.1:1/debian/dists/bookworm/InRelease: connect ECONNREFUSED 127.0.0.1:1']);
});

test('file:// and copy:// archives are looked at on disk', async () => {
  mkdirSync(join(dir, 'arch', 'dists', 'bookworm'), { recursive: true });
  writeFileSync(join(dir, 'arch', 'dists', 'bookworm', 'Release'), '');
  assert.is(await problemLines(recipe(`file://${dir}/arch`)), undefined);
  assert.is(await problemLines(recipe(`copy://${dir}/arch`)), undefined);
  assert.equal(await problemLines(recipe(`file://${dir}/missing`)), [`  bookworm: file://${dir}/missing/dists/bookworm/InRelease: no such file (nor Release)`]);
});

test('a proxy in the environment skips the probe, with a log line', async () => {
  const before = process.env.http_proxy;
  process.env.http_proxy = 'http://127.0.0.1:1';
  const logged: string[] = [];
  try {
    await assertUpstreamsReachable(recipe(`${url}/none`), undefined, (l) => logged.push(l));
  } finally {
    if (before === undefined) delete process.env.http_proxy;
    else process.env.http_proxy = before;
  }
  assert.equal(logged, [`r: dry run: not checking ${url}/none for bookworm: apt would go through $http_proxy`]);
});

test("apt-get update's Failed to fetch lines become the unreachable error; other failures stay as they are", () => {
  const tail = [
    'E: Failed to fetch http://127.0.0.1:1/debian/dists/bookworm/InRelease  Could not connect to 127.0.0.1:1 (127.0.0.1). - connect (111: Connection refused)',
    'E: Some index files failed to download. They have been ignored, or old ones used instead.',
  ].join('\n');
  assert.equal(failedFetches(tail), ['http://127.0.0.1:1/debian/dists/bookworm/InRelease: Could not connect to 127.0.0.1:1 (127.0.0.1). - connect (111: Connection refused)']);
  const err = unreachableFromApt(new CommandError('apt-get update', 100, tail), { name: 'r' });
  assert.instance(err, OperationError);
  assert.is((err as OperationError).exitCode, 1);
  assert.is((err as OperationError).message, 'the upstream of recipe r could not be reached:\n  http://127.0.0.1:1/debian/dists/bookworm/InRelease: Could not connect to 127.0.0.1:1 (127.0.0.1). - connect (111: Connection refused)');
  const other = new CommandError('apt-get update', 100, 'E: The repository is not signed.');
  assert.is(unreachableFromApt(other, { name: 'r' }), other);
});

test.run();
