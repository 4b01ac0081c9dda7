/**
 * Records the host reads back from a machine root are hostile (issue 11,
 * parts 1 and 4): root in the container controls provenance.json and
 * firstboot.json, and `provision` polls the marker while the container runs.
 * Fake machine roots made at test time hold a FIFO as either record, a
 * symlink to a host file, a 1 MiB record and records with a bad codename, a
 * non-hex hash or exit code 999. The real `nspawn-kit list` lists every
 * machine, each bad one with its problem; the provision poller keeps polling
 * until its timeout and then names the marker's problem. Nothing hangs.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Shell } from '../../src/shell.js';
import { OperationError } from '../../src/errors.js';
import { FIRSTBOOT, PROVENANCE } from '../../src/machine/paths.js';
import { readFirstBootResult, readProvenance, writeProvenance } from '../../src/machine/provenance.js';
import { firstBootPoller, pollUntil, unfinishedFirstBoot } from '../../src/machine/provision.js';
import { readInRoot } from '../../src/machine/inject.js';
import type { MachineInfo } from '../../src/machine/list.js';
import { cli } from '../helpers/cli.js';
import { makeConfig } from '../helpers/config.js';
import { firstBootMarker, provenanceRecord } from '../helpers/records.js';

const base = mkdtempSync(join(tmpdir(), 'nk-records-hostile-'));
const config = makeConfig(base);
const cfg = join(base, 'cfg.json');
writeFileSync(cfg, JSON.stringify({ stateDir: config.stateDir, mirror: { root: config.mirror.root, archives: [] }, machines: config.machines }));
const sh = new Shell({ log: () => undefined });
const M = config.machines.dir;

const PROV = provenanceRecord();
const OK_MARKER = firstBootMarker();

/** A machine root with a provenance record (or what `prov` puts at its place) and a first-boot marker. */
async function machine(name: string, opts: { prov?: (path: string) => void; marker?: (path: string) => void } = {}): Promise<string> {
  const root = join(M, name);
  mkdirSync(join(root, dirname(PROVENANCE)), { recursive: true });
  if (opts.prov) opts.prov(join(root, PROVENANCE));
  else await writeProvenance(sh, root, { ...PROV, machine: name });
  (opts.marker ?? ((p: string) => writeFileSync(p, OK_MARKER)))(join(root, FIRSTBOOT.marker));
  return root;
}
const fifo = (path: string) => execFileSync('mkfifo', ['--', path]);
const json = (value: unknown) => (path: string) => writeFileSync(path, JSON.stringify(value));

const hostFile = join(base, 'host-provenance.json');
writeFileSync(hostFile, JSON.stringify({ ...PROV, machine: 'link-prov' }));

async function hostileMachines(): Promise<void> {
  await machine('a-good');
  await machine('fifo-prov', { prov: fifo });
  await machine('fifo-marker', { marker: fifo });
  await machine('link-prov', { prov: (p) => symlinkSync(hostFile, p) });
  await machine('huge-prov', { prov: (p) => writeFileSync(p, JSON.stringify({ ...PROV, pad: ' '.repeat(1024 * 1024) }).slice(0, 1024 * 1024)) });
  await machine('bad-codename', { prov: json({ ...PROV, machine: 'bad-codename', codename: 'Bookworm\nforged' }) });
  await machine('bad-hash', { prov: json({ ...PROV, machine: 'bad-hash', recipeHash: 'A'.repeat(64), inReleaseSha256: 'zz' }) });
  await machine('bad-exit', { marker: json({ status: 'failure', exitCode: 999, time: '2026-11-29T01:02:03Z' }) });
}

const root = (name: string) => join(M, name);

/** The OperationError a promise rejects with (fails the test if it resolves). */
async function rejects(promise: Promise<unknown>, check: (err: unknown) => boolean): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e ?? new Error('rejected with nothing'),
  );
  if (err === undefined) assert.unreachable('expected a rejection');
  assert.ok(check(err), err instanceof Error ? err.message : String(err));
}

test('nspawn-kit list: every machine listed, each hostile record named as that machine\'s problem; no hang', async () => {
  await hostileMachines();
  const started = Date.now();
  const r = cli(['--config', cfg, '--json', 'list'], { env: { NO_COLOR: '1' }, timeoutMs: 60_000 });
  assert.is(r.code, 0, r.stderr);
  assert.ok(Date.now() - started < 60_000, 'no hang on the FIFOs');
  const list = JSON.parse(r.stdout) as MachineInfo[];
  const seen = Object.fromEntries(list.map((m) => [m.name, [m.recipe, m.codename, m.firstBoot, m.problem ?? null]]));
  const hex = 'a sha256 (64 lowercase hex digits)';
  assert.equal(seen, {
    'a-good': ['bookworm-minimal', 'bookworm', 'success', null],
    'bad-codename': ['?', '?', 'unknown', `${root('bad-codename')}${PROVENANCE} is not a valid record: codename: expected a codename like "bookworm", got "Bookworm\\nforged"`],
    'bad-exit': ['bookworm-minimal', 'bookworm', 'unknown', `${root('bad-exit')}${FIRSTBOOT.marker} is not a valid record: exitCode: expected an exit code (an integer 0..255), got 999`],
    'bad-hash': ['?', '?', 'unknown', `${root('bad-hash')}${PROVENANCE} is not a valid record: recipeHash: expected ${hex}, got "${'A'.repeat(64)}"; inReleaseSha256: expected ${hex}, got "zz"`],
    'fifo-marker': ['bookworm-minimal', 'bookworm', 'unknown', `${root('fifo-marker')}${FIRSTBOOT.marker} is a FIFO; not read`],
    'fifo-prov': ['?', '?', 'unknown', `${root('fifo-prov')}${PROVENANCE} is a FIFO; not read`],
    'huge-prov': ['?', '?', 'unknown', `${root('huge-prov')}${PROVENANCE} has 1048576 bytes, more than the 65536 a record may have; not read`],
    'link-prov': ['?', '?', 'unknown', `${root('link-prov')}${PROVENANCE} is a symbolic link; not followed`],
  });
  // The table shows each problem's first line on its machine's line.
  const table = cli(['--config', cfg, 'list'], { env: { NO_COLOR: '1' }, timeoutMs: 60_000 });
  assert.is(table.code, 0, table.stderr);
  const all = table.stdout.trimEnd().split('\n');
  // The header and 8 machines, then why the updates of those whose records were readable are unknown (these roots have no dpkg status).
  const lines = all.slice(0, 9);
  assert.equal(
    all.slice(9),
    ['a-good', 'bad-exit', 'fifo-marker'].map((n) => `${n}: updates unknown: ${root(n)}/var/lib/dpkg/status does not exist`),
  );
  assert.match(lines.find((l) => l.startsWith('fifo-marker '))!, /bookworm-minimal\s+bookworm\s+bbbbbbbbbbbb\s+\?\s+\d+ MiB\s+-\s+copy\s+unknown\s+broken: .*firstboot\.json is a FIFO; not read$/);
  // The record's "\n" (already escaped by JSON) is escaped once more by the table: no raw newline either way.
  assert.match(lines.find((l) => l.startsWith('bad-codename '))!, /\?\s+\?\s+-\s+\?\s+0 MiB\s+-\s+copy\s+unknown\s+broken: .*got "Bookworm\\\\nforged"$/);
  assert.match(lines.find((l) => l.startsWith('a-good '))!, /success\s+stopped$/);
});

test('record readers: errors name the path; the host file behind a symlink is never read', async () => {
  await rejects(readProvenance(root('link-prov')), (err: unknown) => err instanceof OperationError && err.message === `${root('link-prov')}${PROVENANCE} is a symbolic link; not followed`);
  await rejects(readFirstBootResult(root('fifo-marker')), (err: unknown) => err instanceof OperationError && err.message.endsWith('firstboot.json is a FIFO; not read'));
  assert.equal(await readProvenance(root('a-good')), { ...PROV, machine: 'a-good' });
  // Extra fields in a record are dropped, not passed on.
  const extra = await machine('extra', { prov: json({ ...PROV, machine: 'extra', injected: 'x' }) });
  assert.equal(await readProvenance(extra), { ...PROV, machine: 'extra' });
  // A directory on the way that is a link (to a host directory holding a valid record) is not followed either.
  const hostDir = join(base, 'host-dir');
  mkdirSync(hostDir);
  writeFileSync(join(hostDir, 'provenance.json'), JSON.stringify({ ...PROV, machine: 'link-dir' }));
  const linkDir = join(M, 'link-dir');
  mkdirSync(join(linkDir, 'var/lib'), { recursive: true });
  symlinkSync(hostDir, join(linkDir, 'var/lib/nspawn-kit'));
  await rejects(readProvenance(linkDir), (err: unknown) => err instanceof OperationError && err.message === `${join(linkDir, PROVENANCE)}: ${join(linkDir, 'var/lib/nspawn-kit')} is a symbolic link; not followed`);
  // readInRoot (system files at injection): resolved inside the root, then the same safe open.
  const sys = join(base, 'sysroot');
  mkdirSync(join(sys, 'etc'), { recursive: true });
  fifo(join(sys, 'etc/passwd'));
  await rejects(readInRoot(sys, '/etc/passwd'), (err: unknown) => err instanceof OperationError && err.message === `${join(sys, 'etc/passwd')} is a FIFO; not read`);
  writeFileSync(join(sys, 'etc/big'), Buffer.alloc(5 * 1024 * 1024));
  await rejects(readInRoot(sys, '/etc/big'), (err: unknown) => err instanceof OperationError && /has 5242880 bytes, more than the 4194304 a file read from a root may have; not read$/.test(err.message));
  symlinkSync('/etc/hostname', join(sys, 'etc/hostname-link'));
  assert.is(await readInRoot(sys, '/etc/hostname-link'), undefined, 'an absolute link resolves inside the root, where nothing is');
});

/** What `provision` does while the container runs: poll the marker until done or the timeout. */
async function poll(rootDir: string, timeoutMs = 1500): Promise<{ ended: string; problem: string | undefined; ms: number }> {
  const poller = firstBootPoller(rootDir);
  const started = Date.now();
  const ended = await pollUntil(async () => ((await poller.done()) ? 'done' : undefined), timeoutMs, 100);
  return { ended, problem: poller.problem(), ms: Date.now() - started };
}

test('provision poller: a FIFO, a link, a huge or invalid marker keep it polling until the timeout, which names the problem', async () => {
  const cases: [string, (p: string) => void, string][] = [
    ['p-fifo', fifo, 'is a FIFO; not read'],
    ['p-link', (p) => symlinkSync(join(base, 'host-marker.json'), p), 'is a symbolic link; not followed'],
    ['p-huge', (p) => writeFileSync(p, Buffer.alloc(1024 * 1024, 0x20)), 'has 1048576 bytes, more than the 65536 a record may have; not read'],
    ['p-exit', json({ status: 'success', exitCode: 999, time: '2026-11-29T01:02:03Z' }), 'is not a valid record: exitCode: expected an exit code (an integer 0..255), got 999'],
    ['p-time', json({ status: 'done', exitCode: 0, time: 'yesterday' }), 'is not a valid record: status: expected "success" or "failure", got "done"; time: expected an ISO 8601 UTC time, got "yesterday"'],
  ];
  writeFileSync(join(base, 'host-marker.json'), OK_MARKER);
  for (const [name, plant, why] of cases) {
    const r = await machine(name, { marker: plant });
    const res = await poll(r);
    assert.is(res.ended, 'timeout', name);
    assert.ok(res.ms >= 1500 && res.ms < 10_000, `${name}: polled until the timeout, no hang (${res.ms} ms)`);
    assert.is(res.problem, `${join(r, FIRSTBOOT.marker)} ${why}`, name);
    const err = unfinishedFirstBoot(name, 'did not finish within 1 s', res.problem, '', []);
    assert.ok(err.message.startsWith(`first boot of ${name} did not finish within 1 s; the container was stopped\n  result marker: ${join(r, FIRSTBOOT.marker)} ${why}\n`), err.message);
    assert.match(err.hint ?? '', 'recreate the machine');
  }
});

test('provision poller: a valid marker ends the poll once the script has removed itself', async () => {
  const r = await machine('p-ok', { marker: () => undefined });
  mkdirSync(join(r, dirname(FIRSTBOOT.script)), { recursive: true });
  writeFileSync(join(r, FIRSTBOOT.script), '#!/bin/sh\n');
  // The container writes the marker, then the script removes itself, while the host polls.
  setTimeout(() => writeFileSync(join(r, FIRSTBOOT.marker), OK_MARKER), 300);
  setTimeout(() => rmSync(join(r, FIRSTBOOT.script)), 600);
  const res = await poll(r, 5000);
  assert.is(res.ended, 'done');
  assert.is(res.problem, undefined);
  assert.ok(res.ms >= 600 && res.ms < 2000, `${res.ms} ms`);
  // A marker swapped for a FIFO after a bad poll: still a problem, never a hang.
  const poller = firstBootPoller(r);
  rmSync(join(r, FIRSTBOOT.marker));
  fifo(join(r, FIRSTBOOT.marker));
  assert.is(await poller.done(), false);
  assert.is(poller.problem(), `${join(r, FIRSTBOOT.marker)} is a FIFO; not read`);
});

test.after(() => rmSync(base, { recursive: true, force: true }));
test.run();
