/**
 * Native importer against the real dpkg-deb, with real .debs made at test
 * time: bad and hostile files, conflicts, COPYONLY, dry-run, the cache.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Shell, type Command, type RunOptions, type RunResult } from '../../src/shell.js';
import type { MirrorContext } from '../../src/mirror/context.js';
import { importArchives, importFiles, formatImportReport } from '../../src/mirror/import.js';
import { archiveOwner } from '../../src/triggers/archive-owner.js';
import { inspectDeb } from '../../src/mirror/deb.js';
import { mirrorLayout, suiteListPath } from '../../src/mirror/layout.js';
import { makeConfig } from '../helpers/config.js';
import { makeDeb } from '../helpers/debs.js';
import { snapshotTree } from '../helpers/tree.js';

const bases: string[] = [];

/** The real Shell, recording every command it is asked to run. */
class RecordingShell extends Shell {
  readonly commands: Command[] = [];
  override run(cmd: Command, opts: RunOptions): Promise<RunResult> {
    this.commands.push(cmd);
    return super.run(cmd, opts);
  }
}

function setup(dryRun = false) {
  const base = mkdtempSync(join(tmpdir(), 'nk-import-'));
  bases.push(base);
  const config = makeConfig(base);
  const lines: string[] = [];
  const ctx: MirrorContext = { sh: new Shell({ dryRun, log: (l) => lines.push(l) }), config, log: (l) => lines.push(l) };
  return { base, config, ctx, lines, layout: mirrorLayout(config), archive: join(base, 'archives') };
}

function suite(ctx: MirrorContext, codename = 'bookworm'): string[] {
  const p = suiteListPath(mirrorLayout(ctx.config), codename);
  return existsSync(p) ? readFileSync(p, 'utf8').split('\n').filter(Boolean) : [];
}

/** A .deb whose payload is random bytes (incompressible): truncating it cuts into data.tar. */
function randomDeb(dir: string, name: string, bytes: number): string {
  const work = mkdtempSync(join(tmpdir(), 'nk-rdeb-'));
  try {
    mkdirSync(join(work, 'DEBIAN'));
    writeFileSync(join(work, 'DEBIAN', 'control'), `Package: ${name}\nVersion: 1.0-1\nArchitecture: amd64\nMaintainer: t <t@example.invalid>\nDescription: random payload\n`);
    mkdirSync(join(work, 'usr', 'share', name), { recursive: true });
    execFileSync('sh', ['-c', 'head -c "$1" /dev/urandom > "$2"', 'sh', String(bytes), join(work, 'usr', 'share', name, 'blob')]);
    mkdirSync(dir, { recursive: true });
    const out = join(dir, `${name}_1.0-1_amd64.deb`);
    execFileSync('dpkg-deb', ['-Zgzip', '-z1', '--root-owner-group', '--build', work, out], { stdio: 'ignore' });
    return out;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The batch of the issue: good files, bad files, hostile names with good and bad content. */
function hostileBatch(archive: string) {
  const good = makeDeb(archive, { name: 'hello', version: '2.10-3' });
  makeDeb(archive, { name: 'libfoo1', version: '1:1.2-1', source: 'foo (1.2-1)' });
  copyFileSync(makeDeb(join(archive, '..', 'src'), { name: 'dashy', version: '0.5-1' }), join(archive, '--version.deb'));
  copyFileSync(makeDeb(join(archive, '..', 'src'), { name: 'spacey', version: '1-1' }), join(archive, 'a b.deb'));
  copyFileSync(makeDeb(join(archive, '..', 'src'), { name: 'pwnless', version: '1-1' }), join(archive, '$(touch pwned).deb'));
  const big = randomDeb(join(archive, '..', 'src'), 'bigrand', 200_000);
  copyFileSync(big, join(archive, 'truncated.deb'));
  truncateSync(join(archive, 'truncated.deb'), Math.floor(statSync(big).size / 2));
  writeFileSync(join(archive, 'empty.deb'), '');
  writeFileSync(join(archive, 'garbage.deb'), Buffer.from('this is not an ar archive at all\n'.repeat(50)));
  writeFileSync(join(archive, '--help.deb'), 'garbage');
  writeFileSync(join(archive, '$(touch pwned2).deb'), '!<arch>\ngarbage');
  writeFileSync(join(archive, 'c d.deb'), '');
  mkdirSync(join(archive, 'partial'));
  copyFileSync(good, join(archive, 'partial', 'inpartial_1_amd64.deb'));
  writeFileSync(join(archive, 'lock'), '');
  writeFileSync(join(archive, 'notes.txt'), 'x');
  return { good };
}

test('bad files are reported by name with a reason and never listed; the rest is imported; hostile names run nothing', async () => {
  const { base, ctx, archive, config, layout } = setup();
  hostileBatch(archive);
  const cwd = process.cwd();
  const report = await importArchives(ctx, config.mirror.archives, archiveOwner);
  const rejected = Object.fromEntries(report.rejected.map((r) => [r.file.slice(archive.length + 1), r.reason]));
  assert.equal(Object.keys(rejected).sort(), ['$(touch pwned2).deb', '--help.deb', 'c d.deb', 'empty.deb', 'garbage.deb', 'truncated.deb']);
  assert.match(rejected['empty.deb'] ?? '', 'empty file');
  assert.match(rejected['c d.deb'] ?? '', 'empty file');
  assert.match(rejected['truncated.deb'] ?? '', 'corrupt or truncated');
  assert.match(rejected['garbage.deb'] ?? '', 'not a valid .deb');
  assert.equal(
    suite(ctx),
    [
      'pool/main/d/dashy/dashy_0.5-1_amd64.deb',
      'pool/main/f/foo/libfoo1_1.2-1_amd64.deb',
      'pool/main/h/hello/hello_2.10-3_amd64.deb',
      'pool/main/p/pwnless/pwnless_1-1_amd64.deb',
      'pool/main/s/spacey/spacey_1-1_amd64.deb',
    ],
  );
  assert.is(report.imported.length, 5);
  assert.is(report.addedToSuites.bookworm, 5);
  // partial/, lock and non-.deb files are not even looked at.
  assert.not.ok(JSON.stringify(report).includes('inpartial'));
  // Nothing named pwned anywhere: not in the tree, not in the cwd.
  const all = execFileSync('find', [base, '-name', 'pwned*', '-not', '-name', '*.deb'], { encoding: 'utf8' });
  assert.is(all.trim(), '');
  assert.not.ok(existsSync(join(cwd, 'pwned')) || existsSync(join(cwd, 'pwned2')));
  // Quarantine: one entry per bad file, with reason and time.
  const q = JSON.parse(readFileSync(layout.quarantine, 'utf8')) as Array<{ file: string; reason: string; time: string }>;
  assert.equal(q.map((x) => x.file).sort(), report.rejected.map((r) => r.file).sort());
  assert.ok(q.every((x) => x.reason && !Number.isNaN(Date.parse(x.time))));
  // The pool holds only canonical names: no hostile name crossed over.
  const pool = execFileSync('find', [layout.pool, '-type', 'f'], { encoding: 'utf8' }).trim().split('\n');
  assert.is(pool.length, 5);
  assert.ok(pool.every((p) => /\/[a-z0-9.+-]+_[A-Za-z0-9.+~-]+_amd64\.deb$/.test(p)), pool.join('\n'));
  assert.ok(formatImportReport(report).some((l) => l.includes('rejected: ') && l.includes('$(touch pwned2).deb')));
});

test('the source directory is never changed (listing and mtimes), even across conflicts and rejects', async () => {
  const { ctx, archive, config } = setup();
  hostileBatch(archive);
  const before = snapshotTree(archive);
  await importArchives(ctx, config.mirror.archives, archiveOwner);
  await importArchives(ctx, config.mirror.archives, archiveOwner, { force: true });
  assert.equal(snapshotTree(archive), before);
});

test('same name/version/arch with different bytes is a conflict: reported, pool copy kept, suite unchanged', async () => {
  const { ctx, archive, config, layout } = setup();
  makeDeb(archive, { name: 'hello', version: '2.10-3', salt: 'first' });
  const first = await importArchives(ctx, config.mirror.archives, archiveOwner);
  assert.is(first.imported.length, 1);
  const rel = first.imported[0]?.pool ?? '';
  const poolBytes = readFileSync(join(layout.root, rel));
  const other = join(config.stateDir, '..', 'other');
  makeDeb(other, { name: 'hello', version: '2.10-3', salt: 'second, different bytes' });
  const second = await importArchives(ctx, [{ path: other, codename: 'bookworm' }], archiveOwner);
  assert.is(second.conflicts.length, 1);
  assert.is(second.conflicts[0]?.pool, rel);
  assert.match(second.conflicts[0]?.reason ?? '', 'different bytes');
  assert.is(second.imported.length, 0);
  assert.ok(readFileSync(join(layout.root, rel)).equals(poolBytes));
  assert.equal(suite(ctx), [rel]);
  // Identical bytes from another directory and another codename: present, recorded in that suite.
  const same = join(config.stateDir, '..', 'same');
  mkdirSync(same);
  copyFileSync(join(archive, 'hello_2.10-3_amd64.deb'), join(same, 'renamed.deb'));
  const third = await importArchives(ctx, [{ path: same, codename: 'trixie' }], archiveOwner);
  assert.is(third.alreadyPresent.length, 1);
  assert.equal(suite(ctx, 'trixie'), [rel]);
});

test('dry-run changes nothing on disk and still reports what would happen', async () => {
  const { base, ctx, archive, config, lines } = setup(true);
  hostileBatch(archive);
  const before = snapshotTree(base);
  const report = await importArchives(ctx, config.mirror.archives, archiveOwner);
  assert.equal(snapshotTree(base), before);
  assert.ok(report.dryRun);
  assert.is(report.imported.length, 5);
  assert.is(report.rejected.length, 6);
  assert.ok(lines.some((l) => l.startsWith('[dry-run] install -D -m 0644 -T --')));
});

test('a second import skips unchanged files (cache by size+mtime) and a changed file is validated again', async () => {
  const { ctx, archive, config } = setup();
  makeDeb(archive, { name: 'one' });
  makeDeb(archive, { name: 'two' });
  writeFileSync(join(archive, 'bad.deb'), 'junk');
  const first = await importArchives(ctx, config.mirror.archives, archiveOwner);
  assert.is(first.imported.length, 2);
  const again = await importArchives(ctx, config.mirror.archives, archiveOwner);
  assert.is(again.unchanged, 3);
  assert.is(again.imported.length + again.alreadyPresent.length, 0);
  assert.is(again.rejected.length, 1, 'a bad file is still reported while it is there');
  // Repaired in place: validated again, imported, and dropped from the quarantine.
  copyFileSync(makeDeb(join(config.stateDir, '..', 'x'), { name: 'three' }), join(archive, 'bad.deb'));
  const third = await importArchives(ctx, config.mirror.archives, archiveOwner);
  assert.is(third.imported.length, 1);
  assert.is(third.rejected.length, 0);
  const q = JSON.parse(readFileSync(mirrorLayout(config).quarantine, 'utf8')) as unknown[];
  assert.is(q.length, 0);
});

test('importFiles: specific files; symlinks leaving the directory and non-.deb names are refused', async () => {
  const { ctx, archive, config } = setup();
  const good = makeDeb(archive, { name: 'watched' });
  const outside = makeDeb(join(config.stateDir, '..', 'elsewhere'), { name: 'outsider' });
  symlinkSync(outside, join(archive, 'escape.deb'));
  symlinkSync(good, join(archive, 'inside-link.deb'));
  const listed = await importArchives(ctx, config.mirror.archives, archiveOwner);
  assert.ok(listed.rejected.some((r) => r.file.endsWith('escape.deb') && /outside/.test(r.reason)));
  const r = await importFiles(ctx, [
    { path: good, codename: 'bookworm' },
    { path: join(archive, 'escape.deb'), codename: 'bookworm' },
    { path: join(archive, 'gone.deb'), codename: 'bookworm' },
    { path: join(archive, 'README'), codename: 'bookworm' },
  ]);
  assert.ok(r.rejected.some((x) => x.file.endsWith('escape.deb')));
  assert.ok(r.rejected.some((x) => x.file.endsWith('README') && /not a \.deb/.test(x.reason)));
  assert.ok(r.warnings.some((w) => w.includes('gone.deb') && w.includes('vanished')));
  assert.equal(suite(ctx), ['pool/main/w/watched/watched_1.0-1_amd64.deb']);
  const err = await importFiles(ctx, [{ path: good, codename: '../etc' }]).then(() => undefined, (e: Error) => e);
  assert.match(err?.message ?? '', 'invalid codename');
});

test('inspectDeb: full validation catches a truncated data member that --info accepts', async () => {
  const { base } = setup();
  const big = randomDeb(join(base, 'r'), 'rnd', 300_000);
  const cut = join(base, 'cut.deb');
  copyFileSync(big, cut);
  truncateSync(cut, statSync(big).size - 1000);
  const info = execFileSync('sh', ['-c', 'dpkg-deb --info -- "$1" >/dev/null 2>&1; echo $?', 'sh', cut], { encoding: 'utf8' }).trim();
  assert.is(info, '0', 'dpkg-deb --info accepts the truncated file');
  const sh = new Shell();
  const res = await inspectDeb(sh, cut, { architectures: ['amd64'] });
  assert.not.ok(res.ok);
  assert.match(res.ok ? '' : res.reason, 'corrupt or truncated');
  const ok = await inspectDeb(sh, big, { architectures: ['amd64'] });
  assert.ok(ok.ok && ok.pkg.name === 'rnd' && ok.pkg.sha256.length === 64 && ok.pkg.size === statSync(big).size);
  const wrongArch = await inspectDeb(sh, big, { architectures: ['arm64'] });
  assert.match(wrongArch.ok ? '' : wrongArch.reason, 'not one of');
});

test('thousands of files: validated in parallel, the second run is a cache pass', async () => {
  const { ctx, archive, config } = setup();
  // 300 real .debs keep the test quick; the cache path is the same for 3,000.
  const template = makeDeb(join(config.stateDir, '..', 'tpl'), { name: 'tpl' });
  mkdirSync(archive, { recursive: true });
  for (let i = 0; i < 300; i++) {
    // 40 distinct packages and 260 copies of one: every file is validated either way.
    if (i < 40) makeDeb(archive, { name: `many${i}` });
    else copyFileSync(template, join(archive, `dup${i}.deb`));
  }
  const sh = new RecordingShell({ log: () => {} });
  const first = await importArchives({ ...ctx, sh }, config.mirror.archives, archiveOwner);
  assert.is(first.imported.length, 41);
  assert.is(first.alreadyPresent.length, 259);
  const validations = (cmds: Command[]) => cmds.filter(([cli, args]) => cli === 'sh' && args.join(' ').includes('dpkg-deb'));
  // Batched: a few files per validation process, not one process per file.
  assert.ok(validations(sh.commands).length > 0 && validations(sh.commands).length <= 300 / 4, `${validations(sh.commands).length} validation processes`);
  sh.commands.length = 0;
  const second = await importArchives({ ...ctx, sh }, config.mirror.archives, archiveOwner);
  assert.is(second.unchanged, 300);
  assert.equal(sh.commands, [], 'the cache pass ran no process at all (no validation, no copy)');
  assert.equal(readdirSync(join(mirrorLayout(config).pool)).filter((n) => n.endsWith('.tmp')), [], 'no staged copy left behind');
  assert.is(readdirSync(archive).length, 300);
});

test.after(() => {
  for (const b of bases) rmSync(b, { recursive: true, force: true });
});

test.run();
