/**
 * Review findings M1, M2 and M6 at the importer's level, with real dpkg-deb
 * and apt-ftparchive: a machine's file reaches dpkg-deb only when its staged
 * bytes are the verified ones (M1); one verified package has exactly one file
 * name, is copied at most once per machine and run, and a sparse file is not
 * copied at all (M2); quarantine entries of files that are gone are pruned,
 * whoever brought them (M6).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Shell, type Command, type RunOptions, type RunResult } from '../../src/shell.js';
import type { MirrorContext } from '../../src/mirror/context.js';
import { importFiles } from '../../src/mirror/import.js';
import { loadQuarantine } from '../../src/mirror/import-state.js';
import { mirrorLayout } from '../../src/mirror/layout.js';
import { stateStagingDir } from '../../src/mirror/staging-dir.js';
import { makeConfig } from '../helpers/config.js';
import { makeDeb } from '../helpers/debs.js';

/** A real Shell that remembers every command it ran. */
class RecordingShell extends Shell {
  readonly commands: string[] = [];
  constructor() {
    super({ log: () => {} });
  }
  override async run(cmd: Command, opts: RunOptions): Promise<RunResult> {
    this.commands.push(JSON.stringify(cmd));
    return super.run(cmd, opts);
  }
}

const bases: string[] = [];
const NOT_VERIFIED = 'not in any index nspawn-kit verified for bookworm (machine m1)';
const NOT_APT_NAME = "file name is not apt's name_version_arch.deb, so no verified index can name it (machine m1)";

/** A bookworm warm list naming bigpkg 1.0-1 (the trusted bytes), and machine m1's apt cache. */
function setup() {
  const base = mkdtempSync(join(tmpdir(), 'nk-mbytes-'));
  bases.push(base);
  const config = makeConfig(base);
  const sh = new RecordingShell();
  const ctx: MirrorContext = { sh, config, log: () => {} };
  const repo = join(base, 'repo');
  // Incompressible payload: the .deb is ~400 KB, well past the sparse check's slack.
  const trusted = makeDeb(repo, { name: 'bigpkg', salt: randomBytes(300_000).toString('base64') });
  const lists = join(config.stateDir, 'mirror', 'warm', 'bookworm', 'apt-test-recipe', 'state', 'lists');
  mkdirSync(lists, { recursive: true });
  writeFileSync(join(lists, 'deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages'), execFileSync('apt-ftparchive', ['packages', '.'], { cwd: repo, encoding: 'utf8' }));
  const cache = join(base, 'machines', 'm1', 'var', 'cache', 'apt', 'archives');
  mkdirSync(cache, { recursive: true });
  return { base, config, ctx, sh, layout: mirrorLayout(config), trusted, size: statSync(trusted).size, cache };
}

const asMachine = (cache: string, names: string[]) => names.map((n) => ({ path: join(cache, n), codename: 'bookworm', machine: 'm1' }));
/** A directory's entries; none when it was never made (nothing was staged). */
const ls = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir) : []);
const dpkgRuns = (sh: RecordingShell) => sh.commands.filter((c) => c.includes('dpkg-deb'));

test('M1: same apt name and size as the verified package, other bytes: refused before dpkg-deb reads a byte', async () => {
  const { ctx, sh, layout, trusted, cache } = setup();
  // A valid-looking archive of the verified size whose data member differs (stands in for an xz bomb: dpkg would decompress it).
  const bytes = readFileSync(trusted);
  for (let i = bytes.length - 4096; i < bytes.length; i++) bytes[i] = (bytes[i] ?? 0) ^ 0x5a;
  writeFileSync(join(cache, 'bigpkg_1.0-1_amd64.deb'), bytes);
  const r = await importFiles(ctx, asMachine(cache, ['bigpkg_1.0-1_amd64.deb']));
  assert.equal(r.rejected, [{ file: join(cache, 'bigpkg_1.0-1_amd64.deb'), reason: NOT_VERIFIED }]);
  assert.equal(dpkgRuns(sh), [], 'dpkg-deb never ran');
  assert.equal(readdirSync(stateStagingDir(layout)), [], 'the staged copy is gone');
  assert.equal(readdirSync(layout.pool).filter((n) => n !== '.nk-staging'), []);

  // The verified bytes under the same name: staged, hashed, then validated by dpkg-deb and imported.
  copyFileSync(trusted, join(cache, 'bigpkg_1.0-1_amd64.deb'));
  const ok = await importFiles(ctx, asMachine(cache, ['bigpkg_1.0-1_amd64.deb']));
  assert.equal(ok.imported.map((i) => i.pool), ['pool/main/b/bigpkg/bigpkg_1.0-1_amd64.deb']);
  assert.is(dpkgRuns(sh).length, 1);
});

test('M2: %-aliases of a verified name are not names; a sparse file is not copied; one copy per package and run', async () => {
  const { ctx, sh, layout, size, trusted, cache } = setup();
  const aliases = ['%62igpkg_1.0-1_amd64.deb', 'bigpkg_1.0-1_%61md64.deb', 'bigpkg_1%2e0-1_amd64.deb', 'b%69gpkg_1.0%2d1_amd64.deb'];
  for (const a of aliases) execFileSync('truncate', ['-s', String(size), join(cache, a)]);
  const r = await importFiles(ctx, asMachine(cache, aliases));
  assert.equal(r.rejected.map((x) => x.reason), aliases.map(() => NOT_APT_NAME));
  assert.equal([...ls(stateStagingDir(layout)), ...ls(layout.pool)], [], 'nothing was copied');

  // apt's exact name, the verified size, but a hole: refused on the open descriptor, nothing written.
  execFileSync('truncate', ['-s', String(size), join(cache, 'bigpkg_1.0-1_amd64.deb')]);
  const sparse = await importFiles(ctx, asMachine(cache, ['bigpkg_1.0-1_amd64.deb']));
  assert.equal(sparse.rejected.map((x) => x.reason), [`sparse file (${size} bytes, 0 allocated); not copied`]);
  assert.equal(ls(stateStagingDir(layout)), []);
  assert.equal(dpkgRuns(sh), []);

  // The same package named twice in one run (a watcher event and a reconcile, say): copied once.
  copyFileSync(trusted, join(cache, 'bigpkg_1.0-1_amd64.deb'));
  const twice = await importFiles(ctx, asMachine(cache, ['bigpkg_1.0-1_amd64.deb', 'bigpkg_1.0-1_amd64.deb']));
  assert.equal(twice.imported.map((i) => i.package), ['bigpkg']);
  assert.equal(twice.rejected.map((x) => x.reason), ['another file of machine m1 names the same package in this run; not copied']);
  assert.is(dpkgRuns(sh).length, 1);
});

test('M2: a byte budget per machine and run: what does not fit waits for the next import', async () => {
  const { base, config, ctx, layout, size, trusted, cache } = setup();
  // A second verified package in the same list.
  const repo = join(base, 'repo');
  const other = makeDeb(repo, { name: 'otherpkg', salt: randomBytes(1000).toString('base64') });
  const lists = join(config.stateDir, 'mirror', 'warm', 'bookworm', 'apt-test-recipe', 'state', 'lists');
  writeFileSync(join(lists, 'deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages'), execFileSync('apt-ftparchive', ['packages', '.'], { cwd: repo, encoding: 'utf8' }));
  copyFileSync(trusted, join(cache, 'bigpkg_1.0-1_amd64.deb'));
  copyFileSync(other, join(cache, 'otherpkg_1.0-1_amd64.deb'));
  const names = ['bigpkg_1.0-1_amd64.deb', 'otherpkg_1.0-1_amd64.deb'];
  const r = await importFiles(ctx, asMachine(cache, names), { machineBudget: size + 100, concurrency: 1 });
  assert.equal(r.imported.map((i) => i.package), ['bigpkg']);
  assert.equal(r.rejected, [{ file: join(cache, 'otherpkg_1.0-1_amd64.deb'), reason: `machine m1 has had ${size} bytes copied in this run (at most ${size + 100}); not copied now, the next import takes it` }]);
  assert.equal(ls(stateStagingDir(layout)), []);
  // Not a remembered verdict: the next run takes it.
  const next = await importFiles(ctx, asMachine(cache, names), { machineBudget: size + 100, concurrency: 1 });
  assert.equal(next.imported.map((i) => i.package), ['otherpkg']);
  assert.is(next.unchanged, 1);
});

test('M6: quarantine entries of machine files (and any other) are pruned once the file is gone', async () => {
  const { ctx, layout, cache, config } = setup();
  const junk = Array.from({ length: 50 }, (_, i) => `junk${i}_1.0_amd64.deb`);
  for (const n of junk) writeFileSync(join(cache, n), '');
  // An admin file given by path (the hook's way), outside any scanned directory.
  const loose = join(config.mirror.archives[0]!.path, 'loose_1.0_amd64.deb');
  mkdirSync(config.mirror.archives[0]!.path, { recursive: true });
  writeFileSync(loose, 'not a deb');
  const r = await importFiles(ctx, [...asMachine(cache, junk), { path: loose, codename: 'bookworm' }]);
  assert.is(r.rejected.length, 51);
  assert.is((await loadQuarantine(layout)).length, 51);

  // Half the junk goes: only those entries go.
  for (const n of junk.slice(0, 25)) rmSync(join(cache, n));
  await importFiles(ctx, []);
  assert.equal((await loadQuarantine(layout)).map((q) => q.file).sort(), [...junk.slice(25).map((n) => join(cache, n)), loose].sort());

  for (const n of junk.slice(25)) rmSync(join(cache, n));
  rmSync(loose);
  await importFiles(ctx, []);
  assert.equal(await loadQuarantine(layout), []);
});

test.after(() => {
  for (const b of bases) rmSync(b, { recursive: true, force: true });
});

test.run();
