/**
 * `mirror serve` with real clients across a republish (issue 11, part 5):
 * apt resuming a partial InRelease, apt-cacher-ng in front of the server,
 * and the README's nginx server block, read from the README itself.
 * All traffic stays on 127.0.0.1.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Shell } from '../../src/shell.js';
import type { MirrorContext } from '../../src/mirror/context.js';
import { mirrorLayout, poolRelativePath, suiteListPath } from '../../src/mirror/layout.js';
import { stopGpgAgent } from '../../src/mirror/keys.js';
import { publishMirror } from '../../src/mirror/publish.js';
import { serveMirror, type MirrorServer } from '../../src/mirror/serve.js';
import { makeConfig } from '../helpers/config.js';
import { makeDeb } from '../helpers/debs.js';
import { aptProblems, aptRun, listedInRelease, listedPackages, makeAptClient } from '../helpers/apt-client.js';
import { freePort, startDaemon, type Daemon } from '../helpers/daemon.js';
import { cli, ROOT } from '../helpers/cli.js';

const base = mkdtempSync(join(tmpdir(), 'nk-serve-clients-'));
const config = makeConfig(base);
const ctx: MirrorContext = { sh: new Shell({ log: () => {} }), config };
const layout = mirrorLayout(config);
const inRelease = join(layout.root, 'dists', 'bookworm', 'InRelease');
let server: MirrorServer;
const daemons: Daemon[] = [];

const names = ['alpha', 'bravo', 'charlie', 'delta'];
function setMembers(members: string[]): void {
  mkdirSync(layout.suites, { recursive: true });
  const rels = members.map((name) => poolRelativePath({ name, version: '1.0-1', architecture: 'amd64' }));
  writeFileSync(suiteListPath(layout, 'bookworm'), rels.sort().join('\n') + '\n');
}
/** Publishes `members` and returns the new InRelease, which must differ from `previous`. */
async function publish(members: string[], previous?: Buffer): Promise<Buffer> {
  setMembers(members);
  await publishMirror(ctx);
  const now = readFileSync(inRelease);
  if (previous) assert.not.ok(now.equals(previous), 'the republish changed InRelease');
  return now;
}

function get(url: string, path: string): Promise<{ status: number; type: string | undefined; body: Buffer }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error(`GET ${path}: no answer within 5 s`)));
    req.end();
  });
}

async function assertUpdated(label: string, dir: string, expected: Buffer, members: string[], extra?: string[]): Promise<void> {
  const r = await aptRun(dir, ['update'], extra);
  assert.is(r.code, 0, `${label}: ${r.out}`);
  assert.equal(aptProblems(r.out), [], `${label}: ${r.out}`);
  assert.ok(listedInRelease(dir)?.equals(expected), `${label}: apt keeps the InRelease just published\n${r.out}`);
  assert.equal(await listedPackages(dir), [...members].sort(), label);
}

test.before(async () => {
  for (const [i, name] of names.entries()) {
    const rel = poolRelativePath({ name, version: '1.0-1', architecture: 'amd64' });
    mkdirSync(dirname(join(layout.root, rel)), { recursive: true });
    copyFileSync(makeDeb(join(base, 'debs'), { name, payloadBytes: 300 + i }), join(layout.root, rel));
  }
  // Below 32768 (freePort): apt-cacher-ng 3.7.4 cannot name a higher port, for itself or upstream.
  server = await serveMirror(layout.root, { port: await freePort() });
});

test('apt resuming a partial InRelease across a republish gets the whole new InRelease (exit 0, no BADSIG)', async () => {
  const v1 = await publish(['alpha', 'bravo']);
  const steady = makeAptClient(join(base, 'steady'), server.url, layout.publicKeyAsc);
  await assertUpdated('first update', steady, v1, ['alpha', 'bravo']);
  const listName = readdirSync(join(steady, 'state', 'lists')).find((f) => f.endsWith('_dists_bookworm_InRelease'));
  assert.ok(listName);
  // Interrupted downloads of v1, as apt leaves them: the bytes so far, dated with the Last-Modified it was sent.
  const lastModified = new Date(Math.floor(statSync(inRelease).mtimeMs / 1000) * 1000);
  const partials: Record<string, Buffer> = { head: v1.subarray(0, 700), most: v1.subarray(0, v1.length - 40), whole: v1 };
  for (const [label, bytes] of Object.entries(partials)) {
    const dir = makeAptClient(join(base, `partial-${label}`), server.url, layout.publicKeyAsc);
    const partial = join(dir, 'state', 'lists', 'partial', listName);
    writeFileSync(partial, bytes);
    utimesSync(partial, lastModified, lastModified);
  }
  const v2 = await publish(['alpha', 'charlie', 'delta'], v1);
  assert.ok(v2.length > 700, 'the head partial is a strict prefix of both versions');
  for (const label of Object.keys(partials)) await assertUpdated(`partial ${label}`, join(base, `partial-${label}`), v2, ['alpha', 'charlie', 'delta']);
  await assertUpdated('steady client', steady, v2, ['alpha', 'charlie', 'delta']);
});

test('apt-cacher-ng in front of mirror serve: update, republish, update again sees the new publication', async () => {
  const dir = join(base, 'acng');
  for (const d of ['conf', 'cache', 'log']) mkdirSync(join(dir, d), { recursive: true });
  const port = await freePort();
  writeFileSync(
    join(dir, 'conf', 'acng.conf'),
    [
      `CacheDir: ${dir}/cache`,
      `LogDir: ${dir}/log`,
      'SupportDir: /usr/lib/apt-cacher-ng',
      `SocketPath: ${dir}/socket`,
      `Port: ${port}`,
      'BindAddress: 127.0.0.1',
      'ConnectProto: v4',
      'ForeGround: 1',
      // The upstream here is 127.0.0.1:<free port>; by default only port 80 may be named in a request.
      'AllowUserPorts: 0',
      'VerboseLog: 1',
      '',
    ].join('\n'),
  );
  const acng = await startDaemon('apt-cacher-ng', ['-c', join(dir, 'conf'), 'ForeGround=1'], port);
  daemons.push(acng);
  const proxy = [`Acquire::http::Proxy=http://127.0.0.1:${port}`];
  const client = makeAptClient(join(base, 'acng-client'), server.url, layout.publicKeyAsc);
  const v1 = await publish(['bravo', 'charlie']);
  await assertUpdated('through apt-cacher-ng', client, v1, ['bravo', 'charlie'], proxy);
  const v2 = await publish(['alpha', 'delta'], v1);
  await assertUpdated('through apt-cacher-ng after a republish', client, v2, ['alpha', 'delta'], proxy);
  const v3 = await publish(['alpha', 'bravo', 'charlie', 'delta'], v2);
  await assertUpdated('and after another', client, v3, ['alpha', 'bravo', 'charlie', 'delta'], proxy);
  const fresh = makeAptClient(join(base, 'acng-client-2'), server.url, layout.publicKeyAsc);
  await assertUpdated('a second client of the same cache', fresh, v3, ['alpha', 'bravo', 'charlie', 'delta'], proxy);
});

/** The README's nginx server block, verbatim but for the listen port and the root. */
function readmeNginxBlock(root: string, port: number): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const m = /\n( {4}server \{\n(?: {4}.*\n)*? {4}\}\n)/.exec(readme.slice(readme.indexOf('**gc, verify, serve.**')));
  assert.ok(m?.[1], 'the README has an nginx server block in "gc, verify, serve."');
  const block = m[1].replace(/^ {4}/gm, '');
  assert.match(block, /^ {4}listen 80;$/m);
  assert.match(block, /^ {4}root \/var\/local\/mirrors;$/m);
  return block.replace(/^( {4})listen 80;$/m, `$1listen 127.0.0.1:${port};`).replace(/^( {4})root \/var\/local\/mirrors;$/m, `$1root ${root};`);
}

test("the README's nginx server block serves the mirror to apt, with types, and nothing under a dot-directory or through a link", async () => {
  const dir = join(base, 'nginx');
  mkdirSync(join(dir, 'logs'), { recursive: true });
  const port = await freePort();
  // Debian's nginx.conf around the block: its http defaults, private paths; workers as root because the test's temp dirs are 0700.
  writeFileSync(
    join(dir, 'nginx.conf'),
    [
      'user root;',
      `pid ${dir}/nginx.pid;`,
      `error_log ${dir}/logs/error.log;`,
      'events { worker_connections 64; }',
      'http {',
      '    include /etc/nginx/mime.types;',
      '    default_type application/octet-stream;',
      `    access_log ${dir}/logs/access.log;`,
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `    ${t}_temp_path ${dir}/${t};`),
      readmeNginxBlock(layout.root, port),
      '}',
      '',
    ].join('\n'),
  );
  const nginx = await startDaemon('nginx', ['-p', dir, '-e', `${dir}/logs/error.log`, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], port);
  daemons.push(nginx);
  const url = `http://127.0.0.1:${port}`;
  const v1 = await publish(['alpha', 'charlie']);
  const client = makeAptClient(join(base, 'nginx-client'), url, layout.publicKeyAsc);
  await assertUpdated('from nginx', client, v1, ['alpha', 'charlie']);
  // nginx's validators have one-second resolution (ETag = mtime-size): a republish within the
  // second of apt's last fetch, at the same size, would get a 304. Real republishes are minutes apart.
  await new Promise((r) => setTimeout(r, 1100));
  const v2 = await publish(['bravo', 'delta'], v1);
  await assertUpdated('from nginx after a republish', client, v2, ['bravo', 'delta']);

  const deb = poolRelativePath({ name: 'bravo', version: '1.0-1', architecture: 'amd64' });
  const types = {
    'dists/bookworm/InRelease': 'text/plain',
    'dists/bookworm/Release': 'text/plain',
    'dists/bookworm/main/binary-amd64/Packages': 'text/plain',
    [deb]: 'application/vnd.debian.binary-package',
    'dists/bookworm/main/binary-amd64/Packages.xz': 'application/octet-stream',
  };
  for (const [path, type] of Object.entries(types)) {
    const res = await get(url, `/${path}`);
    assert.is(res.status, 200, path);
    assert.is(res.type, type, path);
    assert.ok(res.body.equals(readFileSync(join(layout.root, path))), path);
  }
  mkdirSync(join(layout.root, '.hidden'), { recursive: true });
  writeFileSync(join(layout.root, '.hidden', 'secret'), 'SECRET');
  writeFileSync(join(dir, 'outside'), 'SECRET');
  symlinkSync('.hidden', join(layout.root, 'shown'));
  symlinkSync(join(dir, 'outside'), join(layout.root, 'outside'));
  for (const path of ['/.hidden/secret', '/%2ehidden/secret', '/shown/secret', '/outside', '/pool/../.hidden/secret']) {
    const res = await get(url, path);
    assert.ok(res.status === 404 || res.status === 403, `${path}: ${res.status}`);
    assert.not.match(res.body.toString(), 'SECRET', path);
  }
});

test('the CLI: nspawn-kit mirror serve serves the root until SIGTERM; a missing root is a clear error', async () => {
  mkdirSync(join(base, 'archives'), { recursive: true });
  const cfg = join(base, 'nspawnrc.json');
  const write = (root: string) =>
    writeFileSync(cfg, JSON.stringify({ stateDir: config.stateDir, mirror: { root, archives: [{ path: join(base, 'archives'), codename: 'bookworm' }] }, machines: { dir: join(base, 'machines') } }));
  write(join(base, 'no-mirror-here'));
  const missing = cli(['--config', cfg, 'mirror', 'serve', '--port', '0'], { cwd: base, timeoutMs: 60_000 });
  assert.is(missing.code, 1, missing.stderr);
  assert.match(missing.stderr, `cannot serve ${join(base, 'no-mirror-here')}`);
  assert.match(missing.stderr, 'nspawn-kit mirror publish');

  write(layout.root);
  const port = await freePort();
  const tsx = ['--import', join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs'), join(ROOT, 'src', 'cli.ts')];
  const serve = await startDaemon(process.execPath, [...tsx, '--config', cfg, 'mirror', 'serve', '--port', String(port)], port, 60_000);
  const res = await get(`http://127.0.0.1:${port}`, '/dists/bookworm/InRelease');
  assert.is(res.status, 200);
  assert.ok(res.body.equals(readFileSync(inRelease)));
  assert.is((await get(`http://127.0.0.1:${port}`, '/.staging')).status, 404);
  await serve.stop();
  assert.is(serve.child.exitCode, 0, serve.output());
  assert.match(serve.output(), `serving ${layout.root} at http://127.0.0.1:${port}`);
});

test.after(async () => {
  for (const d of daemons) await d.stop();
  await server?.close();
  await stopGpgAgent(ctx);
  rmSync(base, { recursive: true, force: true });
});

test.run();
