/**
 * A name in an admin archive directory swapped after the directory was listed
 * (review finding H1): pointed at the secret signing key under stateDir, it
 * must not get a byte of the key copied anywhere, least of all under
 * mirror.root (bind-mounted read-only into every container, rsynced). The
 * swaps happen deterministically in the importer's afterListing seam, between
 * listing and the first open; everything else is real (dpkg-deb, the pool).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { Shell, type Command, type RunOptions, type RunResult } from '../../src/shell.js';
import type { MirrorContext } from '../../src/mirror/context.js';
import { importArchives } from '../../src/mirror/import.js';
import { archiveOwner } from '../../src/triggers/archive-owner.js';
import { mirrorLayout, suiteListPath } from '../../src/mirror/layout.js';
import { stateStagingDir } from '../../src/mirror/staging-dir.js';
import { makeConfig } from '../helpers/config.js';
import { makeDeb } from '../helpers/debs.js';

const bases: string[] = [];

function setup() {
  const base = mkdtempSync(join(tmpdir(), 'nk-swap-'));
  bases.push(base);
  const config = makeConfig(base);
  const ctx: MirrorContext = { sh: new Shell({ log: () => {} }), config, log: () => {} };
  const archives = config.mirror.archives[0]!.path;
  mkdirSync(archives, { recursive: true });
  // A stand-in for gpg's secret key file, where the real one lives (stateDir/gnupg, mode 0700).
  const keyDir = join(config.stateDir, 'gnupg', 'private-keys-v1.d');
  mkdirSync(keyDir, { recursive: true, mode: 0o700 });
  const secret = randomBytes(4096);
  const key = join(keyDir, 'ABCDEF0123456789.key');
  writeFileSync(key, secret, { mode: 0o600 });
  return { base, config, ctx, archives, key, secret, layout: mirrorLayout(config) };
}

/** Every regular file under dir (recursively, dot-files included, symlinks not followed) whose bytes contain `needle`. */
function filesContaining(dir: string, needle: Buffer): string[] {
  const out: string[] = [];
  for (const rel of readdirSync(dir, { recursive: true }) as string[]) {
    const p = join(dir, rel);
    if (lstatSync(p).isFile() && readFileSync(p).includes(needle)) out.push(rel);
  }
  return out;
}

const suite = (config: ReturnType<typeof makeConfig>): string => {
  try {
    return readFileSync(suiteListPath(mirrorLayout(config), 'bookworm'), 'utf8');
  } catch {
    return '';
  }
};

test('a regular file swapped for a symlink to the secret key after listing is refused; no byte of the key is copied', async () => {
  const { base, config, ctx, archives, key, secret, layout } = setup();
  const x = makeDeb(archives, { name: 'xpkg' });
  makeDeb(archives, { name: 'ypkg' });
  let swapped = false;
  const r = await importArchives(ctx, config.mirror.archives, archiveOwner, {
    afterListing: async (files) => {
      assert.ok(files.some((f) => f.path === x), 'x.deb was listed as a regular file');
      rmSync(x);
      symlinkSync(key, x);
      swapped = true;
    },
  });
  assert.ok(swapped);
  assert.equal(r.imported.map((i) => i.package), ['ypkg']);
  assert.equal(r.rejected, [{ file: x, reason: 'symbolic link where a regular file was listed (not followed)' }]);
  assert.equal(suite(config), 'pool/main/y/ypkg/ypkg_1.0-1_amd64.deb\n');
  // Nowhere under the mirror root, nor in the staging directory, nor anywhere else in the test's world but the key itself.
  assert.equal(filesContaining(base, secret.subarray(0, 64)), [join('state', 'gnupg', 'private-keys-v1.d', 'ABCDEF0123456789.key')]);
  // The private copy was made outside what is published: stateDir/mirror/staging, mode 0700, now empty.
  const staging = stateStagingDir(layout);
  assert.is(statSync(staging).mode & 0o777, 0o700);
  assert.equal(readdirSync(staging), []);
  assert.equal(readdirSync(layout.pool).filter((n) => n.startsWith('.')), [], 'no dot-file or dot-directory in the published pool');
});

test('an in-directory symlink is resolved once at listing: its target swapped for a link to the key is refused', async () => {
  const { base, config, ctx, archives, key, secret } = setup();
  const real = makeDeb(archives, { name: 'linked' }, 'linked.real');
  const link = join(archives, 'linked_1.0-1_amd64.deb');
  symlinkSync('linked.real', link);
  const r = await importArchives(ctx, config.mirror.archives, archiveOwner, {
    afterListing: async (files) => {
      assert.equal(files.map((f) => [f.path, f.openPath]), [[link, real]]);
      rmSync(real);
      symlinkSync(key, real);
    },
  });
  assert.is(r.imported.length, 0);
  assert.equal(r.rejected, [{ file: link, reason: 'symbolic link where a regular file was listed (not followed)' }]);
  assert.equal(filesContaining(base, secret.subarray(0, 64)), [join('state', 'gnupg', 'private-keys-v1.d', 'ABCDEF0123456789.key')]);

  // Untouched, the same symlink imports its target.
  rmSync(real);
  makeDeb(archives, { name: 'linked' }, 'linked.real');
  const ok = await importArchives(ctx, config.mirror.archives, archiveOwner, { force: true });
  assert.equal(ok.imported.map((i) => i.pool), ['pool/main/l/linked/linked_1.0-1_amd64.deb']);
});

test('the archive directory swapped for a symlink to another directory after listing: the open descriptor is refused', async () => {
  const { base, config, ctx, archives } = setup();
  const x = makeDeb(archives, { name: 'xpkg' });
  const outside = join(base, 'outside');
  // Same file name, other package: what the swap would bring in.
  makeDeb(outside, { name: 'xpkg', version: '1.0-1', salt: 'outside' });
  const r = await importArchives(ctx, config.mirror.archives, archiveOwner, {
    afterListing: async () => {
      renameSync(archives, `${archives}.old`);
      symlinkSync(outside, archives);
    },
  });
  assert.is(r.imported.length, 0);
  assert.equal(r.rejected, [{ file: x, reason: `opened file is ${join(outside, 'xpkg_1.0-1_amd64.deb')}, not in the archive directory ${archives} (swapped after listing?); not copied` }]);
  assert.is(suite(config), '');
});

test('a file that grew after listing is not copied past the listed size, and is retried by the next import', async () => {
  const { config, ctx, archives } = setup();
  const x = makeDeb(archives, { name: 'grow' });
  const r = await importArchives(ctx, config.mirror.archives, archiveOwner, {
    afterListing: async () => writeFileSync(x, Buffer.alloc(1 << 20), { flag: 'a' }),
  });
  const size = statSync(x).size;
  assert.equal(r.rejected, [{ file: x, reason: `changed since it was listed (${size - (1 << 20)} bytes, now ${size}); not imported (it will be retried)` }]);
  // Not a remembered verdict: once the file is whole again, it goes in.
  rmSync(x);
  makeDeb(archives, { name: 'grow' });
  const again = await importArchives(ctx, config.mirror.archives, archiveOwner);
  assert.equal(again.imported.map((i) => i.package), ['grow']);
});

/** Swaps `path` for a symlink to `target` right after the validating dpkg-deb returns: the old validate-then-copy window. */
class SwapAfterValidation extends Shell {
  swapped = false;
  constructor(private readonly path: string, private readonly target: string) {
    super({ log: () => {} });
  }
  override async run(cmd: Command, opts: RunOptions): Promise<RunResult> {
    const res = await super.run(cmd, opts);
    if (!this.swapped && JSON.stringify(cmd).includes('dpkg-deb')) {
      rmSync(this.path);
      symlinkSync(this.target, this.path);
      this.swapped = true;
    }
    return res;
  }
}

test('importer "apt-move": a source swapped for a link to the key after validation is never read again; apt-move gets the private copy', async () => {
  const { base, config, archives, key, secret } = setup();
  config.mirror.importer = 'apt-move';
  const x = makeDeb(archives, { name: 'xpkg' });
  const xSha = createHash('sha256').update(readFileSync(x)).digest('hex');
  // The host's apt lists name xpkg (as this host keeps them: lz4), so apt-move files it.
  const repo = join(base, 'repo', 'pool', 'main', 'x', 'xpkg');
  mkdirSync(repo, { recursive: true });
  copyFileSync(x, join(repo, 'xpkg_1.0-1_amd64.deb'));
  const lists = join(base, 'host-lists');
  mkdirSync(lists);
  writeFileSync(join(base, 'Packages'), execFileSync('apt-ftparchive', ['packages', 'pool'], { cwd: join(base, 'repo'), encoding: 'utf8' }));
  execFileSync('lz4', ['-q', '-z', '-f', join(base, 'Packages'), join(lists, 'example.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4')]);
  writeFileSync(join(lists, 'example.org_debian_dists_bookworm_InRelease'), '');
  const sh = new SwapAfterValidation(x, key);
  const r = await importArchives({ sh, config, log: () => {} }, config.mirror.archives, archiveOwner, { hostLists: lists });
  assert.ok(sh.swapped, 'the swap happened');
  // Validated, then handed to apt-move as the private copy: the pool holds the validated bytes.
  assert.equal(r.imported.map((i) => i.pool), ['pool/main/x/xpkg/xpkg_1.0-1_amd64.deb']);
  assert.equal(r.rejected, []);
  assert.is(createHash('sha256').update(readFileSync(join(config.mirror.root, 'pool/main/x/xpkg/xpkg_1.0-1_amd64.deb'))).digest('hex'), xSha);
  assert.equal(filesContaining(base, secret.subarray(0, 64)), [join('state', 'gnupg', 'private-keys-v1.d', 'ABCDEF0123456789.key')]);
  assert.equal(readdirSync(stateStagingDir(mirrorLayout(config))), []);
});

test.after(() => {
  for (const b of bases) rmSync(b, { recursive: true, force: true });
});

test.run();
