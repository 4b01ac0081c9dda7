/**
 * Issue 11, part 3 and the publish side of part 7: one bad file never takes
 * a suite down. A pool file with bytes after its last member (apt-ftparchive
 * fails on it, and exits 0) and a listed file missing from the pool are
 * quarantined, taken out of the suite list and reported by name with the
 * indexer's message; the rest is published, verifies, and a real apt client
 * with Signed-By updates from it. A damaged apt-ftparchive cache database is
 * moved aside and rebuilt without a failed publish.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { cliMirror } from '../helpers/mirror-cli.js';
import { privateAptOptions } from '../helpers/apt.js';
import { makeDeb, makeTrailingBytesDeb } from '../helpers/debs.js';

const { base, archives, root, state, run } = cliMirror('nk-pubq-');
const inRelease = join(root, 'dists/bookworm/InRelease');
const names = () => [...readFileSync(join(root, 'dists/bookworm/main/binary-amd64/Packages'), 'utf8').matchAll(/^Package: (.*)$/gm)].map((m) => m[1]).sort();
const listPath = join(state, 'mirror/suites/bookworm.list');
const suiteList = () => readFileSync(listPath, 'utf8').trim().split('\n').filter(Boolean);
const quarantined = (): Record<string, string> => {
  const st = run('--json', 'status');
  assert.is(st.code, 0, st.stderr);
  return Object.fromEntries((JSON.parse(st.stdout) as { quarantined: Array<{ file: string; reason: string }> }).quarantined.map((q) => [q.file, q.reason]));
};

/** A throwaway apt root trusting only the mirror's key, for this source only. */
function aptUpdate(): { code: number | null; out: string; dir: string } {
  const dir = mkdtempSync(join(base, 'apt-'));
  for (const d of ['parts', 'state/lists/partial', 'cache/archives/partial', 'empty', 'out']) mkdirSync(join(dir, d), { recursive: true });
  writeFileSync(join(dir, 'status'), '');
  writeFileSync(join(dir, 'parts/mirror.sources'), ['Types: deb', `URIs: file://${root}`, 'Suites: bookworm', 'Components: main', `Signed-By: ${root}/mirror.asc`, ''].join('\n'));
  const r = spawnSync('apt-get', [...privateAptOptions(dir), 'update'], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
  const dl = spawnSync('apt-get', [...privateAptOptions(dir), 'download', 'good1'], { cwd: join(dir, 'out'), encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
  return { code: r.status === 0 ? dl.status : r.status, out: `${r.stdout}\n${r.stderr}\n${dl.stdout}\n${dl.stderr}`, dir };
}

test.after(() => {
  execFileSync('gpgconf', ['--homedir', join(state, 'gnupg'), '--kill', 'all'], { stdio: 'ignore' });
  rmSync(base, { recursive: true, force: true });
});

test('a pool file apt-ftparchive cannot index is quarantined by name with its message; the rest is published and apt updates', () => {
  for (const name of ['good1', 'good2', 'good3']) makeDeb(archives, { name });
  assert.is(run('mirror', 'import').code, 0);
  assert.is(run('mirror', 'publish').code, 0);
  const previous = readFileSync(inRelease);

  // What an older importer let in: bytes after the last member (dpkg-deb accepts the file).
  const bad = 'pool/main/p/pkgt/pkgt_1.0-1_amd64.deb';
  mkdirSync(dirname(join(root, bad)), { recursive: true });
  copyFileSync(makeTrailingBytesDeb(join(base, 'crafted'), { name: 'pkgt' }, Buffer.from('trailing!')), join(root, bad));
  const indexPath = join(state, 'mirror/pool-index.json');
  const index = JSON.parse(readFileSync(indexPath, 'utf8')) as { files: Record<string, unknown> };
  const st = statSync(join(root, bad));
  index.files[bad] = { name: 'pkgt', version: '1.0-1', architecture: 'amd64', source: 'pkgt', size: st.size, sha256: createHash('sha256').update(readFileSync(join(root, bad))).digest('hex'), mtimeMs: st.mtimeMs };
  writeFileSync(indexPath, JSON.stringify(index));
  const missing = 'pool/main/g/gone/gone_1.0-1_amd64.deb';
  writeFileSync(listPath, [...suiteList(), bad, missing].sort().join('\n') + '\n');

  // The same three packages publish the same indices: only Release's Date (whole seconds) and
  // the signature's time tell a new publication from the previous one, so let a second pass.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1100);
  const pub = run('mirror', 'publish');
  assert.is(pub.code, 1, 'a quarantined file makes publish exit 1');
  const lines = pub.stdout.trim().split('\n');
  assert.match(lines[0] ?? '', /^bookworm: 3 packages, \d+ bytes, InRelease sha256 [0-9a-f]{16}…/);
  // Then the (empty) update suites of the family, each signed as well.
  assert.match(lines[lines.length - 2] ?? '', /^bookworm-security: 0 packages, 0 bytes, InRelease sha256 [0-9a-f]{16}…/);
  assert.match(lines[lines.length - 1] ?? '', /^bookworm-updates: 0 packages, 0 bytes, InRelease sha256 [0-9a-f]{16}…/);
  assert.equal(lines.slice(1, -2).sort(), [
    `  quarantined: ${missing}: apt-ftparchive could not index it: E: Could not open file ${root}/${missing} - open (2: No such file or directory)`,
    `  quarantined: ${bad}: apt-ftparchive could not index it: E: read, still have 51 to read but none left / E: Error reading archive member header`,
  ]);
  assert.not.ok(readFileSync(inRelease).equals(previous), 'a new publication went live');
  assert.equal(names(), ['good1', 'good2', 'good3']);
  assert.not.ok(suiteList().includes(bad) || suiteList().includes(missing), 'both out of the suite list');
  const q = quarantined();
  assert.is(q[join(root, bad)], 'bookworm: apt-ftparchive could not index it: E: read, still have 51 to read but none left / E: Error reading archive member header');
  assert.match(q[join(root, missing)] ?? '', /^bookworm: apt-ftparchive could not index it: E: Could not open file/);

  const ver = run('mirror', 'verify');
  assert.is(ver.code, 0, ver.stdout + ver.stderr);
  const apt = aptUpdate();
  assert.is(apt.code, 0, apt.out);
  assert.not.match(apt.out, /^(W|E):/m);
  assert.equal(readdirSync(join(apt.dir, 'out')), ['good1_1.0-1_amd64.deb']);
  // The suite stays publishable: the next publish has nothing to drop.
  const again = run('mirror', 'publish');
  assert.is(again.code, 0, again.stdout + again.stderr);
  // One line per suite (bookworm and its empty update suites), no quarantine line.
  assert.equal(again.stdout.trim().split('\n').map((l) => l.split(':')[0]), ['bookworm', 'bookworm-security', 'bookworm-updates']);
});

test('a damaged apt-ftparchive cache database is moved aside and rebuilt; the publish succeeds', () => {
  const db = join(state, 'mirror/cache/packages.db');
  for (const damage of ['truncated', 'garbage'] as const) {
    rmSync(`${db}.damaged`, { force: true });
    if (damage === 'truncated') truncateSync(db, 1000);
    else writeFileSync(db, 'not a Berkeley DB file\n'.repeat(100));
    const damagedBytes = readFileSync(db);
    const pub = run('mirror', 'publish');
    assert.is(pub.code, 0, `${damage}: ${pub.stdout}${pub.stderr}`);
    assert.match(pub.stderr, `apt-ftparchive could not open its cache ${db}: moved aside to ${db}.damaged, indexing again`);
    assert.ok(readFileSync(`${db}.damaged`).equals(damagedBytes), `${damage}: the damaged copy is kept aside`);
    assert.ok(existsSync(db) && statSync(db).size > 1000, `${damage}: rebuilt`);
    assert.equal(names(), ['good1', 'good2', 'good3']);
    // The rebuilt database is usable: no repair the next time.
    const next = run('mirror', 'publish');
    assert.is(next.code, 0);
    assert.not.match(next.stderr, 'moved aside');
  }
  assert.is(run('mirror', 'verify').code, 0);
});

test.run();
