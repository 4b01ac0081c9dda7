/**
 * mirror serve against clients that stop reading: a client that requests a
 * big file and never reads is cut off after the idle deadline, every
 * descriptor its response held is closed, and other clients are still served.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, openSync, closeSync, ftruncateSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { serveMirror, type MirrorServer } from '../../src/mirror/serve.js';

const base = mkdtempSync(join(tmpdir(), 'nk-serve-limits-'));
const BIG = 64 * 1024 * 1024;
let server: MirrorServer | undefined;

test.before(() => {
  // Sparse: 64 MiB to send, nothing on disk; far more than the socket buffers hold.
  const fd = openSync(join(base, 'big.deb'), 'w');
  ftruncateSync(fd, BIG);
  closeSync(fd);
  writeFileSync(join(base, 'small.txt'), 'hello\n');
});
test.after(async () => {
  await server?.close();
  rmSync(base, { recursive: true, force: true });
});

const openFds = () => readdirSync('/proc/self/fd').length;

function get(url: string, path: string): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    // No keep-alive: the sockets of this request are gone once it is answered, so descriptors can be counted.
    const req = request({ host: u.hostname, port: u.port, path, agent: false, headers: { Connection: 'close' } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error(`GET ${path}: no answer within 5 s`)));
    req.end();
  });
}

/** A client in its own process: on "go" it requests `path` and stops reading; on "resume" it reads on and reports the bytes it got. */
const CLIENT = `
const net = require('node:net');
const [host, port, path] = process.argv.slice(1);
let sock, got = 0;
process.stdin.setEncoding('utf8').on('data', (cmd) => {
  if (cmd.includes('go')) {
    sock = net.connect(+port, host, () => {
      sock.write('GET ' + path + ' HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n');
      sock.pause();
      console.log('sent');
    });
    sock.on('data', (c) => (got += c.length));
    sock.on('close', () => { console.log('closed ' + got); process.exit(0); });
    sock.on('error', () => {});
  }
  if (cmd.includes('resume')) sock.resume();
});
`;

async function waitFor(what: string, cond: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

test('a client that requests a big file and stops reading is cut off after the idle deadline; its descriptors are closed; others are served', async () => {
  server = await serveMirror(base, { idleTimeoutMs: 1000 });
  const u = new URL(server.url);
  // Warm up (send and the HTTP parser load lazily), then the client process, then the baseline.
  assert.equal(await get(server.url, '/small.txt'), { status: 200, body: 'hello\n' });
  const { FORCE_COLOR: _, ...env } = process.env;
  const child = spawn(process.execPath, ['-e', CLIENT, u.hostname, u.port, '/big.deb'], { stdio: ['pipe', 'pipe', 'inherit'], env });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = once(child, 'exit');
  try {
    await sleep(500);
    const baseline = openFds();
    child.stdin.write('go\n');
    await waitFor('the request', () => out.includes('sent'), 5000);
    // The response holds the socket, our checked descriptor and send's reopen of it.
    await waitFor('the response to start', () => openFds() >= baseline + 3, 5000);
    const stalled = Date.now();
    assert.is(openFds(), baseline + 3);
    await waitFor('the stalled response to be cut off', () => openFds() === baseline, 10000);
    const after = Date.now() - stalled;
    assert.ok(after >= 700, `not before the idle deadline (${after} ms)`);
    // Still serving.
    assert.equal(await get(server.url, '/small.txt'), { status: 200, body: 'hello\n' });
    await waitFor('the second request to be closed', () => openFds() === baseline, 2000);
    // The client, reading again, finds its connection closed with the file unfinished.
    child.stdin.write('resume\n');
    await Promise.race([exited, sleep(10000)]);
    const m = /closed (\d+)/.exec(out);
    assert.ok(m, `the client saw its connection closed: ${out}`);
    assert.ok(Number(m![1]) < BIG, `the response was cut short (${m![1]} of ${BIG} bytes)`);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});

test('defaults: 60 s idle deadline, 256 connections, request and header deadlines set', async () => {
  const { createServer } = await import('node:http');
  const { applyServeLimits } = await import('../../src/mirror/serve-limits.js');
  const s = createServer();
  applyServeLimits(s);
  assert.is(s.timeout, 60_000);
  assert.is(s.maxConnections, 256);
  assert.is(s.requestTimeout, 30_000);
  assert.is(s.headersTimeout, 20_000);
});

test.run();
