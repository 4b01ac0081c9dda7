/**
 * The two review findings at the importer's level, with real dpkg-deb and
 * apt-ftparchive: (1) a .deb from a machine's cache is imported only when a
 * package list nspawn-kit verified (warm's private apt lists, in the layout
 * and compression apt leaves there) names its exact bytes, never through a
 * symlink; (2) the bytes validated are the bytes that reach the pool, even
 * when the source is swapped right after it was validated.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Shell, type Command, type RunOptions, type RunResult } from '../../src/shell.js';
import type { MirrorContext } from '../../src/mirror/context.js';
import { importArchives, importFiles } from '../../src/mirror/import.js';
import { archiveOwner } from '../../src/triggers/archive-owner.js';
import { inspectDeb, sha256File } from '../../src/mirror/deb.js';
import { mirrorLayout, suiteListPath } from '../../src/mirror/layout.js';
import { loadQuarantine } from '../../src/mirror/import-state.js';
import { makeConfig } from '../helpers/config.js';
import { makeDeb } from '../helpers/debs.js';

const bases: string[] = [];

function setup() {
  const base = mkdtempSync(join(tmpdir(), 'nk-trust-'));
  bases.push(base);
  const config = makeConfig(base);
  const ctx: MirrorContext = { sh: new Shell({ log: () => {} }), config, log: () => {} };
  const cache = join(base, 'machines', 'm1', 'var', 'cache', 'apt', 'archives');
  mkdirSync(cache, { recursive: true });
  return { base, config, ctx, layout: mirrorLayout(config), cache };
}

/** The lists directory of warm's private apt root, as `mirror warm` leaves it. */
function warmLists(config: ReturnType<typeof makeConfig>): string {
  const dir = join(config.stateDir, 'mirror', 'warm', 'bookworm', 'apt-test-recipe', 'state', 'lists');
  mkdirSync(join(dir, 'partial'), { recursive: true });
  return dir;
}

/** apt-ftparchive packages over a directory of fixture debs, written where apt keeps that upstream's list. */
function writeVerifiedList(lists: string, repo: string, compress: 'none' | 'lz4' | 'gz' = 'none'): string {
  const text = execFileSync('apt-ftparchive', ['packages', '.'], { cwd: repo, encoding: 'utf8' });
  const file = join(lists, 'deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages');
  writeFileSync(file, text);
  if (compress === 'lz4') execFileSync('lz4', ['-q', '--rm', file, `${file}.lz4`]);
  if (compress === 'gz') execFileSync('gzip', ['-n', file]);
  return compress === 'none' ? file : `${file}.${compress}`;
}

const suite = (config: ReturnType<typeof makeConfig>) => {
  const p = suiteListPath(mirrorLayout(config), 'bookworm');
  return existsSync(p) ? readFileSync(p, 'utf8') : '';
};

test('machine files: bytes named by a verified list are imported, others quarantined with the reason', async () => {
  const { base, config, ctx, layout, cache } = setup();
  const repo = join(base, 'repo');
  makeDeb(repo, { name: 'trusted', version: '1.0-1' });
  makeDeb(repo, { name: 'trustedlz', version: '2:3.0-1' });
  writeVerifiedList(warmLists(config), repo, 'lz4');
  copyFileSync(join(repo, 'trusted_1.0-1_amd64.deb'), join(cache, 'trusted_1.0-1_amd64.deb'));
  copyFileSync(join(repo, 'trustedlz_3.0-1_amd64.deb'), join(cache, 'trustedlz_2%3a3.0-1_amd64.deb'));
  // Same name and version as a trusted one, other bytes: what a hostile container would plant.
  makeDeb(join(base, 'evil'), { name: 'trusted', version: '1.0-1', salt: 'evil' });
  copyFileSync(join(base, 'evil', 'trusted_1.0-1_amd64.deb'), join(cache, 'evil_1.0-1_amd64.deb'));
  // Named as apt names its downloads (the epoch's ":" quoted as %3a).
  copyFileSync(makeDeb(join(base, 'planted'), { name: 'openssh-server', version: '99:1.0-1' }), join(cache, 'openssh-server_99%3a1.0-1_amd64.deb'));

  const names = readdirSync(cache).sort();
  const r = await importFiles(ctx, names.map((n) => ({ path: join(cache, n), codename: 'bookworm', machine: 'm1' })));
  assert.equal(r.imported.map((i) => i.package).sort(), ['trusted', 'trustedlz']);
  assert.equal(r.rejected.map((x) => x.reason), ['not in any index nspawn-kit verified for bookworm (machine m1)', 'not in any index nspawn-kit verified for bookworm (machine m1)']);
  assert.equal(r.rejected.map((x) => x.file).sort(), [join(cache, 'evil_1.0-1_amd64.deb'), join(cache, 'openssh-server_99%3a1.0-1_amd64.deb')]);
  assert.not.match(suite(config), 'openssh-server');
  assert.is(suite(config).split('\n').filter(Boolean).length, 2);
  const q = await loadQuarantine(layout);
  assert.equal(q.map((e) => e.reason), r.rejected.map(() => 'not in any index nspawn-kit verified for bookworm (machine m1)'));
  // The pool holds the trusted bytes, not the planted ones.
  assert.is((await sha256File(join(layout.root, 'pool/main/t/trusted/trusted_1.0-1_amd64.deb'))).sha256, (await sha256File(join(repo, 'trusted_1.0-1_amd64.deb'))).sha256);

  // Once a verified list names the bytes (a later warm), the same file is accepted: rejection is not cached.
  copyFileSync(join(cache, 'openssh-server_99%3a1.0-1_amd64.deb'), join(repo, 'openssh-server_1.0-1_amd64.deb'));
  rmSync(join(warmLists(config), 'deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4'));
  writeVerifiedList(warmLists(config), repo, 'gz');
  const again = await importFiles(ctx, [{ path: join(cache, 'openssh-server_99%3a1.0-1_amd64.deb'), codename: 'bookworm', machine: 'm1' }]);
  assert.equal(again.imported.map((i) => i.package), ['openssh-server']);
});

test('machine files: a symlink (even to a trusted .deb) and a file behind a symlinked directory are not followed', async () => {
  const { base, config, ctx, cache } = setup();
  const repo = join(base, 'repo');
  const good = makeDeb(repo, { name: 'linked' });
  writeVerifiedList(warmLists(config), repo);
  symlinkSync(good, join(cache, 'linked_1.0-1_amd64.deb'));
  const r = await importFiles(ctx, [{ path: join(cache, 'linked_1.0-1_amd64.deb'), codename: 'bookworm', machine: 'm1' }]);
  assert.is(r.imported.length, 0);
  assert.match(r.rejected[0]?.reason ?? '', /symbolic link/);
  // The directory itself replaced by a link to a host directory after the watcher resolved it.
  const hostDir = join(base, 'host-private');
  mkdirSync(hostDir);
  copyFileSync(good, join(hostDir, 'linked_1.0-1_amd64.deb'));
  rmSync(cache, { recursive: true });
  symlinkSync(hostDir, cache);
  const r2 = await importFiles(ctx, [{ path: join(cache, 'linked_1.0-1_amd64.deb'), codename: 'bookworm', machine: 'm1' }]);
  assert.is(r2.imported.length, 0);
  assert.match(r2.rejected[0]?.reason ?? '', /leads elsewhere/);
  assert.is(suite(config), '');
});

test('admin archives keep their behaviour: a file no list names is imported from mirror.archives', async () => {
  const { config, ctx } = setup();
  makeDeb(config.mirror.archives[0]!.path, { name: 'local-only' });
  const r = await importArchives(ctx, config.mirror.archives, archiveOwner);
  assert.equal(r.imported.map((i) => i.package), ['local-only']);
  assert.is(r.rejected.length, 0);
});

/** Replaces the source with garbage right after the validation process returns: the old validate-then-copy window. */
class SwappingShell extends Shell {
  constructor(private readonly source: string, private readonly garbage: string) {
    super({ log: () => {} });
  }
  override async run(cmd: Command, opts: RunOptions): Promise<RunResult> {
    const res = await super.run(cmd, opts);
    const [cli, args] = cmd;
    if (cli === 'sh' && args.some((a) => a.includes('dpkg-deb')) && existsSync(this.garbage)) renameSync(this.garbage, this.source);
    return res;
  }
}

test('a source swapped right after validation cannot get its new bytes into the pool', async () => {
  const { config, layout } = setup();
  const src = makeDeb(config.mirror.archives[0]!.path, { name: 'swapme', payloadBytes: 20_000 });
  const goodSha = (await sha256File(src)).sha256;
  // Same name and size class, but not a Debian archive at all.
  const garbage = join(config.mirror.archives[0]!.path, '.garbage');
  writeFileSync(garbage, readFileSync(src).map((b) => b ^ 0xff));
  const ctx: MirrorContext = { sh: new SwappingShell(src, garbage), config, log: () => {} };
  const r = await importArchives(ctx, config.mirror.archives, archiveOwner);
  assert.not.ok(existsSync(garbage), 'the swap happened');
  assert.not.equal((await sha256File(src)).sha256, goodSha, 'the source now holds other bytes');
  const pooled = join(layout.root, 'pool/main/s/swapme/swapme_1.0-1_amd64.deb');
  if (r.imported.length) {
    // What reached the pool is the validated copy: the original bytes, a valid .deb.
    assert.is((await sha256File(pooled)).sha256, goodSha);
    assert.ok((await inspectDeb(new Shell({ log: () => {} }), pooled)).ok);
  } else assert.not.ok(existsSync(pooled));
  assert.equal(readdirSync(layout.pool).filter((n) => n.endsWith('.tmp')), []);
});

test.after(() => {
  for (const b of bases) rmSync(b, { recursive: true, force: true });
});

test.run();
