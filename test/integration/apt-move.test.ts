/**
 * The apt-move backend with the real apt-move 4.2.27: a temp archive of
 * fixture .debs and a fake host LISTSTATE made here (an lz4-compressed
 * Packages list naming them, as this host's apt keeps its lists).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Shell } from '../../src/shell.js';
import type { MirrorContext } from '../../src/mirror/context.js';
import { importArchives } from '../../src/mirror/import.js';
import { archiveOwner } from '../../src/triggers/archive-owner.js';
import { prepareListState } from '../../src/mirror/apt-move.js';
import { mirrorLayout, suiteListPath } from '../../src/mirror/layout.js';
import { makeConfig } from '../helpers/config.js';
import { makeDeb } from '../helpers/debs.js';
import { snapshotTree } from '../helpers/tree.js';

const have = (tool: string) => spawnSync('sh', ['-c', 'command -v "$1"', 'sh', tool]).status === 0;
const missing = ['apt-move', 'lz4', 'apt-ftparchive'].filter((t) => !have(t));
const bases: string[] = [];

function setup() {
  const base = mkdtempSync(join(tmpdir(), 'nk-aptmove-'));
  bases.push(base);
  const config = makeConfig(base);
  config.mirror.importer = 'apt-move';
  const lines: string[] = [];
  const ctx: MirrorContext = { sh: new Shell({ log: (l) => lines.push(l) }), config, log: (l) => lines.push(l) };
  const archive = join(base, 'archives');
  const lists = join(base, 'host-lists');
  return { base, config, ctx, lines, archive, lists, layout: mirrorLayout(config) };
}

/** A host LISTSTATE: the Packages list apt would have for a repository holding these .debs, lz4-compressed. */
function fakeHostLists(lists: string, debs: string[]): void {
  const repo = mkdtempSync(join(tmpdir(), 'nk-repo-'));
  bases.push(repo);
  for (const d of debs) {
    const name = d.slice(d.lastIndexOf('/') + 1);
    const pkg = name.split('_')[0] ?? name;
    const dir = join(repo, 'pool', 'main', pkg.slice(0, 1), pkg);
    mkdirSync(dir, { recursive: true });
    copyFileSync(d, join(dir, name));
  }
  const packages = execFileSync('apt-ftparchive', ['packages', 'pool'], { cwd: repo, encoding: 'utf8' });
  mkdirSync(lists, { recursive: true });
  const plain = join(repo, 'Packages');
  writeFileSync(plain, packages);
  execFileSync('lz4', ['-q', '-z', '-f', plain, join(lists, 'example.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4')]);
  writeFileSync(join(lists, 'example.org_debian_dists_bookworm_InRelease'), '');
  writeFileSync(join(lists, 'lock'), '');
}

test('apt-move imports through a private LISTSTATE and a safe FILECACHE; bad and hostile files as the native importer', async () => {
  if (missing.length) return console.log(`  skipped: missing ${missing.join(', ')}`);
  const { base, config, ctx, lines, archive, lists, layout } = setup();
  const hello = makeDeb(archive, { name: 'hello', version: '2.10-3' });
  const dashy = makeDeb(archive, { name: 'dashy', version: '1:0.5-2' });
  const hostile = makeDeb(join(base, 'src'), { name: 'sneaky', version: '1-1' });
  // apt-move itself would run this name through a shell (move4's `dpkg-deb -I <name>`).
  copyFileSync(hostile, join(archive, '$(id>pwned).deb'));
  writeFileSync(join(archive, 'broken.deb'), 'not a deb');
  // apt-move chmods what it files; a source with its own mode must keep it (COPYONLY).
  chmodSync(dashy, 0o600);
  fakeHostLists(lists, [hello, dashy, hostile]);
  const before = snapshotTree(archive);

  const report = await importArchives(ctx, config.mirror.archives, archiveOwner, { hostLists: lists });
  assert.equal(report.imported.map((i) => i.pool).sort(), [
    'pool/main/d/dashy/dashy_0.5-2_amd64.deb',
    'pool/main/h/hello/hello_2.10-3_amd64.deb',
    'pool/main/s/sneaky/sneaky_1-1_amd64.deb',
  ]);
  assert.equal(report.rejected.map((r) => r.file), [join(archive, 'broken.deb')]);
  assert.equal(readFileSync(suiteListPath(layout, 'bookworm'), 'utf8').split('\n').filter(Boolean), report.imported.map((i) => i.pool).sort());
  assert.ok(lines.some((l) => l.startsWith('apt-move: ')), 'apt-move ran and its output was passed on');

  // apt-move.conf as the recipe wrote it, pointed at private dirs; APTSITES is the host part of the list names.
  const conf = readFileSync(join(layout.state, 'apt-move', 'bookworm', 'apt-move.conf'), 'utf8');
  for (const l of ['COPYONLY=yes', "APTSITES='example.org'", "DIST='bookworm'", 'PKGTYPE=binary', 'DELETE=no']) assert.ok(conf.includes(l), l);
  assert.ok(existsSync(join(layout.state, 'apt-move', 'lists', 'example.org_debian_dists_bookworm_main_binary-amd64_Packages')));
  // The staging repository is apt-move's; the published tree has no .apt-move, no dists written by apt-move.
  assert.ok(existsSync(join(layout.state, 'apt-move', 'bookworm', 'local', '.apt-move')));
  assert.not.ok(existsSync(join(layout.root, '.apt-move')));
  assert.not.ok(existsSync(join(layout.root, 'dists')));

  // Nothing ran, the source is unchanged (COPYONLY), the pool holds full copies.
  assert.is(execFileSync('find', [base, '-name', 'pwned'], { encoding: 'utf8' }).trim(), '');
  assert.not.ok(existsSync(join(process.cwd(), 'pwned')));
  assert.equal(snapshotTree(archive), before);
  assert.is(statSync(dashy).mode & 0o777, 0o600);
  assert.is(statSync(dashy).nlink, 1);
  assert.ok(readFileSync(join(layout.root, 'pool/main/h/hello/hello_2.10-3_amd64.deb')).equals(readFileSync(hello)));

  // Second run: nothing new, apt-move is not even started.
  lines.length = 0;
  const again = await importArchives(ctx, config.mirror.archives, archiveOwner, { hostLists: lists });
  assert.is(again.unchanged, 4);
  assert.is(again.imported.length, 0);
  assert.not.ok(lines.some((l) => l.startsWith('apt-move: ')));
  // A new file later: only it goes through apt-move.
  makeDeb(archive, { name: 'late', version: '1' });
  const third = await importArchives(ctx, config.mirror.archives, archiveOwner, { hostLists: lists });
  assert.equal(third.imported.map((i) => i.pool), ['pool/main/l/late/late_1_amd64.deb']);
  assert.equal(readdirSync(join(layout.state, 'apt-move', 'bookworm')).sort(), ['apt-move.conf', 'local']);
});

test("the host's own lz4 lists decompress into a private LISTSTATE; APTSITES from their names", async () => {
  if (missing.length) return console.log(`  skipped: missing ${missing.join(', ')}`);
  const host = '/var/lib/apt/lists';
  const names = existsSync(host) ? readdirSync(host).filter((n) => /_Packages(\.lz4)?$/.test(n)) : [];
  if (!names.length) return console.log('  skipped: the host has no apt lists');
  const { base } = setup();
  const sites = await prepareListState(new Shell({ log: () => {} }), host, join(base, 'lists'));
  const out = readdirSync(join(base, 'lists'));
  assert.ok(out.length >= 1 && out.every((n) => n.endsWith('_Packages')));
  assert.ok(sites.length >= 1 && sites.every((s) => !s.includes('_')));
  const first = readFileSync(join(base, 'lists', out[0] ?? ''), 'utf8').slice(0, 200);
  assert.match(first, /^Package: /);
});

test.after(() => {
  for (const b of bases) rmSync(b, { recursive: true, force: true });
});

test.run();
