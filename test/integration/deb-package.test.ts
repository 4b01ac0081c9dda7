/**
 * The Debian package: `npm run deb` (scripts/build-deb.mjs, dpkg-buildpackage
 * with debhelper) is run once into a temporary directory, and the .deb is
 * read with dpkg-deb (fields, file list, modes, maintainer scripts), unpacked
 * into a temporary root with `dpkg-deb -x` (never installed on this host) and
 * run from there with only node on PATH, and checked by lintian.
 * NSPAWN_KIT_TEST_DEB=FILE checks an already built .deb instead of building one.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ROOT } from '../helpers/cli.js';
import { packageDeb } from '../helpers/package-deb.js';
import { TOOLS } from '../../src/host/doctor.js';
import { packagedUnit } from '../../src/deb-assets.js';
import { debianVersion } from '../../debian/deb-version.mjs';

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string; dependencies: Record<string, string>; devDependencies: Record<string, string> };
const SHARE = 'usr/share/nspawn-kit';
/** package.json's version as the package spells it (1.2.0-rc.1 -> 1.2.0~rc.1; a release is unchanged). */
const debVersion = debianVersion(pkg.version);
const base = mkdtempSync(join(tmpdir(), 'nk-deb-'));
const unpacked = join(base, 'root');
let deb = process.env.NSPAWN_KIT_TEST_DEB ?? '';

const run = (cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) =>
  spawnSync(cmd, args, { encoding: 'utf8', cwd: opts.cwd ?? base, env: opts.env ?? process.env, maxBuffer: 64 * 1024 * 1024, timeout: 900_000 });
const has = (tool: string) => spawnSync('sh', ['-c', 'command -v "$1"', 'sh', tool]).status === 0;

/** `dpkg-deb -c` as path -> { mode, link target }. */
function contents(): Map<string, { mode: string; target?: string }> {
  const r = run('dpkg-deb', ['-c', '--', deb]);
  assert.is(r.status, 0, r.stderr);
  const files = new Map<string, { mode: string; target?: string }>();
  for (const line of r.stdout.trim().split('\n')) {
    const m = /^(\S+) \S+\s+\d+ \S+ \S+ \.\/(.*?)(?: -> (.*))?$/.exec(line);
    assert.ok(m, `dpkg-deb -c line: ${line}`);
    files.set(m[2]!.replace(/\/$/, ''), { mode: m[1]!, ...(m[3] ? { target: m[3] } : {}) });
  }
  return files;
}

const field = (name: string) => run('dpkg-deb', ['-f', '--', deb, name]).stdout.trim();

/** Node's directory and the system's: what an admin's shell has, nothing of the checkout. */
const plainEnv = { PATH: `${dirname(process.execPath)}:/usr/bin:/bin`, HOME: base, LANG: 'C.UTF-8' };
const installedCli = (args: string[]) => run(process.execPath, [join(unpacked, SHARE, 'dist', 'cli.js'), ...args], { cwd: '/', env: plainEnv });

test.before(() => {
  if (!deb) {
    for (const tool of ['dpkg-buildpackage', 'dh']) assert.ok(has(tool), `${tool} is missing: apt-get install build-essential debhelper (the test package list)`);
    const built = packageDeb(join(base, 'out'));
    deb = built.deb;
    console.log(`  (built ${relative(base, deb)} in ${built.seconds.toFixed(0)} s)`);
  }
  assert.is(run('dpkg-deb', ['-x', '--', deb, unpacked]).status, 0);
});

test.after(() => rmSync(base, { recursive: true, force: true }));

test('npm run deb printed the path of nspawn-kit_<package.json version>_all.deb, and built nothing else there', () => {
  if (process.env.NSPAWN_KIT_TEST_DEB) return console.log('  (skipped: NSPAWN_KIT_TEST_DEB given, nothing built)');
  assert.is(deb, join(base, 'out', `nspawn-kit_${debVersion}_all.deb`));
  // The build tree (a copy of the sources) is removed; dpkg-buildpackage's records stay beside the .deb.
  const names = ['buildinfo', 'changes', 'deb'].map((ext) => `nspawn-kit_${debVersion}_all.${ext}`);
  assert.equal(readdirSync(join(base, 'out')).sort(), names);
  // The changelog entry the build used (dpkg-genchanges took Version from it) has package.json's version too.
  assert.match(readFileSync(join(base, 'out', names[1]!), 'utf8'), new RegExp(`^Version: ${debVersion.replace(/[.+~]/g, '\\$&')}$`, 'm'));
});

test('control fields: the package, package.json\'s version, Architecture all, what the code needs in Depends, the optional tools in Suggests', () => {
  assert.is(field('Package'), 'nspawn-kit');
  assert.is(field('Version'), debVersion);
  assert.is(field('Architecture'), 'all');
  const depends = field('Depends').split(/,\s*/);
  for (const d of ['nodejs (>= 20)', 'debootstrap', 'systemd-container', 'apt-utils', 'gnupg', 'gpgv', 'xz-utils']) assert.ok(depends.includes(d), `Depends lacks ${d}: ${depends.join(', ')}`);
  // Every tool doctor requires comes from a package in Depends (dpkg is essential: always there, never depended on).
  for (const t of TOOLS.filter((t) => !t.optional && t.pkg !== 'dpkg')) assert.ok(depends.includes(t.pkg), `doctor requires ${t.tool} from ${t.pkg}`);
  const suggests = field('Suggests').split(/,\s*/);
  for (const t of TOOLS.filter((t) => t.optional)) assert.ok(suggests.includes(t.pkg), `optional ${t.tool} (${t.pkg}) not in Suggests`);
  assert.not.ok(depends.some((d) => TOOLS.some((t) => t.optional && d.startsWith(t.pkg))), 'an optional tool is in Depends');
});

test('file list: the built code, scripts, recipes, schemas, the command, the man page, the unit, the copyright', () => {
  const files = contents();
  const cli = files.get(`${SHARE}/dist/cli.js`);
  assert.is(cli?.mode, '-rwxr-xr-x');
  assert.is(files.get('usr/bin/nspawn-kit')?.target, '../share/nspawn-kit/dist/cli.js');
  assert.is(files.get('usr/bin/nspawn-kit')?.mode.startsWith('l'), true);
  assert.ok(readFileSync(join(unpacked, SHARE, 'dist', 'cli.js'), 'utf8').startsWith('#!/usr/bin/env node\n'));
  // Every module of src/ built, none of the TypeScript, declarations or maps.
  const sources = readdirSync(join(ROOT, 'src'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
  assert.ok(sources.length > 100);
  for (const s of sources) assert.ok(files.has(`${SHARE}/dist/${s.replace(/\.ts$/, '.js')}`), `dist/${s} missing`);
  const ours = [...files.keys()].filter((f) => f.startsWith(`${SHARE}/`) && !f.startsWith(`${SHARE}/node_modules/`));
  assert.equal(ours.filter((f) => /\.(ts|map)$/.test(f) || /\/(src|test|bench|debian)(\/|$)/.test(f)), []);
  for (const dir of ['tasks', 'hooks']) {
    const scripts = readdirSync(join(ROOT, dir)).filter((f) => f.endsWith('.mjs'));
    assert.ok(scripts.length > 0);
    for (const s of scripts) assert.is(files.get(`${SHARE}/${dir}/${s}`)?.mode, '-rwxr-xr-x', `${dir}/${s}`);
  }
  for (const r of readdirSync(join(ROOT, 'recipes'))) assert.is(files.get(`${SHARE}/recipes/${r}`)?.mode, '-rw-r--r--', `recipes/${r}`);
  for (const f of ['package.json', 'nspawnrc.schema.json', 'recipe.schema.json']) assert.ok(files.has(`${SHARE}/${f}`), f);
  for (const f of ['usr/share/man/man1/nspawn-kit.1.gz', 'usr/share/doc/nspawn-kit/copyright', 'usr/share/doc/nspawn-kit/README.md.gz', 'usr/share/doc/nspawn-kit/examples/nspawnrc.example.json']) assert.ok(files.has(f), f);
  // debhelper's place for units: lib/ on Debian 12, usr/lib/ from Debian 13.
  const units = [...files.keys()].filter((f) => /^(usr\/)?lib\/systemd\/system\/./.test(f));
  assert.equal(units.map((f) => f.replace(/^usr\//, '')), ['lib/systemd/system/nspawn-kit-daemon.service']);
  assert.is(readFileSync(join(unpacked, units[0]!), 'utf8'), packagedUnit());
});

test('system configuration: /etc/nspawn-kit/config.json is a conffile holding only the schema address, recipes.d is there, and the installed CLI loads them', () => {
  const files = contents();
  assert.is(files.get('etc/nspawn-kit/config.json')?.mode, '-rw-r--r--');
  assert.is(files.get('etc/nspawn-kit/recipes.d')?.mode, 'drwxr-xr-x');
  const control = join(base, 'control');
  assert.is(run('dpkg-deb', ['-e', '--', deb, control]).status, 0);
  assert.equal(readFileSync(join(control, 'conffiles'), 'utf8').trim().split('\n'), ['/etc/nspawn-kit/config.json']);
  assert.equal(JSON.parse(readFileSync(join(unpacked, 'etc/nspawn-kit/config.json'), 'utf8')), { $schema: `/${SHARE}/nspawnrc.schema.json` });
  assert.ok(files.has(`${SHARE}/nspawnrc.schema.json`), 'the schema it names is shipped');
  // The unpacked /etc as the system directory: root's, so the ownership checks let it through; the defaults apply.
  const env = { ...plainEnv, NSPAWN_KIT_CONFIG_DIR: join(unpacked, 'etc/nspawn-kit') };
  const shown = run(process.execPath, [join(unpacked, SHARE, 'dist', 'cli.js'), '--json', 'config'], { cwd: '/', env });
  assert.is(shown.status, 0, shown.stderr);
  const config = JSON.parse(shown.stdout) as { file?: string; stateDir: string };
  assert.is(config.file, join(unpacked, 'etc/nspawn-kit/config.json'));
  assert.is(config.stateDir, '/var/lib/nspawn-kit');
});

test('node_modules: exactly the production dependencies, none of the devDependencies', () => {
  const files = contents();
  const top = new Set([...files.keys()].map((f) => /^usr\/share\/nspawn-kit\/node_modules\/((?:@[^/]+\/)?[^/.][^/]*)\/package\.json$/.exec(f)?.[1]).filter((n): n is string => Boolean(n)));
  for (const dep of Object.keys(pkg.dependencies)) assert.ok(top.has(dep), `dependency ${dep} missing`);
  for (const dev of Object.keys(pkg.devDependencies)) assert.not.ok(top.has(dev), `devDependency ${dev} shipped`);
  for (const tool of ['typescript', 'uvu', 'tsx', 'esbuild']) assert.not.ok([...files.keys()].some((f) => f.includes(`/node_modules/${tool}/`)), `${tool} shipped`);
  // What `npm ls --omit=dev` in the checkout says the production tree is, no more (nested copies counted once).
  const ls = run('npm', ['ls', '--omit=dev', '--omit=optional', '--all', '--parseable'], { cwd: ROOT });
  const wanted = new Set(ls.stdout.trim().split('\n').slice(1).map((p) => relative(join(ROOT, 'node_modules'), p)).map((p) => p.split('/node_modules/').pop()!));
  assert.ok(wanted.size > 20, ls.stderr);
  assert.equal([...top].sort(), [...wanted].filter((n) => n !== 'typescript').sort());
});

test('unpacked, it runs from anywhere with only node on PATH: --version prints package.json\'s version, doctor reports, hooks start', () => {
  const version = installedCli(['--version']);
  assert.is(version.status, 0, version.stderr);
  assert.is(version.stdout, `${pkg.version}\n`);
  // Through /usr/bin/nspawn-kit (a relative link inside the unpacked root) too: node finds the package by the link's target.
  const viaLink = run(join(unpacked, 'usr', 'bin', 'nspawn-kit'), ['--version'], { cwd: '/', env: plainEnv });
  assert.is(viaLink.stdout, `${pkg.version}\n`, viaLink.stderr);
  const doctor = installedCli(['--json', 'doctor']);
  const report = JSON.parse(doctor.stdout) as { tools: { tool: string }[] };
  assert.equal(report.tools.map((t) => t.tool), TOOLS.map((t) => t.tool));
  for (const hook of ['nightly-refresh.mjs', 'reindex-on-deb.mjs']) {
    const r = run(join(unpacked, SHARE, 'hooks', hook), ['--help'], { cwd: '/', env: plainEnv });
    assert.is(r.status, 0, `${hook}: ${r.stderr}`);
  }
  // The shipped recipes are the ones it resolves (BUNDLED_RECIPES is relative to dist/).
  const recipes = installedCli(['config', '--recipes']);
  assert.is(recipes.status, 0, recipes.stderr);
  for (const r of readdirSync(join(ROOT, 'recipes'))) assert.ok(recipes.stdout.includes(JSON.stringify(r.replace(/\.json$/, ''))), `recipe ${r}`);
});

test('the man page is nspawn-kit(1) for this version, and names every command and option of the installed --help', () => {
  const page = gunzipSync(readFileSync(join(unpacked, 'usr/share/man/man1/nspawn-kit.1.gz'))).toString('utf8');
  assert.match(page, new RegExp(`^\\.TH NSPAWN\\\\-KIT 1 "\\d{4}-\\d\\d-\\d\\d" "nspawn\\\\-kit ${pkg.version.replace(/[.-]/g, (c) => (c === '-' ? '\\\\\\\\-' : '\\.'))}"`, 'm'));
  const plain = page.replace(/\\-/g, '-');
  const help = installedCli(['--help']).stdout;
  const commands = [...help.matchAll(/^ {2}([a-z][a-z-]*)\b/gm)].map((m) => m[1]!);
  assert.ok(commands.includes('install-units') && commands.includes('mirror'), help);
  for (const c of commands) assert.ok(plain.includes(`.B "nspawn-kit ${c}`), `command ${c}`);
  for (const cmd of ['', 'mirror', 'mirror serve', 'create', 'install-units']) {
    const text = installedCli([...cmd.split(' ').filter(Boolean), '--help']).stdout;
    const options = [...text.matchAll(/^ {2}(-[^ ].*?)(?: {2,}|$)/gm)].map((m) => m[1]!);
    assert.ok(options.includes('-h, --help'), text);
    for (const o of options) assert.ok(plain.split('\n').includes(`.B ${o}`), `option ${o} of "${cmd}"`);
  }
  // man itself renders it without a warning where it is installed.
  if (has('man')) {
    const r = run('man', ['--warnings', '-l', '-Tutf8', join(unpacked, 'usr/share/man/man1/nspawn-kit.1.gz')], { env: { ...process.env, MANWIDTH: '80' } });
    assert.is(r.status, 0, r.stderr);
    assert.is(r.stderr, '');
  }
});

test('systemd-analyze verify accepts the shipped unit, its Documentation= man page included (the package\'s own, through MANPATH)', () => {
  if (!has('systemd-analyze')) return console.log('  (SKIPPED: systemd-analyze is not installed)');
  const unit = ['lib', 'usr/lib'].map((d) => join(unpacked, d, 'systemd/system/nspawn-kit-daemon.service')).find((f) => existsSync(f))!;
  assert.match(readFileSync(unit, 'utf8'), /^Documentation=man:nspawn-kit\(1\)$/m);
  const r = run('systemd-analyze', ['verify', '--', unit], { env: { ...process.env, MANPATH: join(unpacked, 'usr/share/man') } });
  assert.is(`${r.stdout}${r.stderr}`, '');
  assert.is(r.status, 0);
});

test('maintainer scripts never enable the daemon, start it only through deb-systemd-invoke (which leaves a disabled unit alone), stop it on removal', () => {
  const dir = join(base, 'control');
  assert.is(run('dpkg-deb', ['-e', '--', deb, dir]).status, 0);
  const postinst = readFileSync(join(dir, 'postinst'), 'utf8');
  const lines = postinst.split('\n').map((l) => l.trim());
  // `deb-systemd-helper enable` only re-creates the links of a unit that was enabled before (an upgrade keeps the admin's choice).
  const enables = lines.flatMap((l, i) => (l.startsWith('deb-systemd-helper enable') ? [i] : []));
  assert.is(enables.length, 1, postinst);
  assert.is(lines[enables[0]! - 2], "if deb-systemd-helper --quiet was-enabled 'nspawn-kit-daemon.service'; then");
  assert.not.match(postinst, /systemctl[^\n]*\b(enable|start|restart)\b/);
  // start on install, restart on upgrade: deb-systemd-invoke skips a unit that is disabled (and, for restart, not running).
  assert.equal(lines.filter((l) => l.includes('deb-systemd-invoke')), ["deb-systemd-invoke $_dh_action 'nspawn-kit-daemon.service' >/dev/null || true"]);
  assert.match(readFileSync(join(dir, 'prerm'), 'utf8'), /\[ "\$1" = remove \][^\n]*\n\s*deb-systemd-invoke stop 'nspawn-kit-daemon.service'/);
});

test('lintian: no error and no warning (overrides carry their reason in debian/nspawn-kit.lintian-overrides)', () => {
  if (!has('lintian')) return console.log('  (SKIPPED: lintian is not installed; apt-get install lintian)');
  const r = run('lintian', ['--pedantic', '--', deb]);
  const tags = r.stdout.split('\n').filter((l) => /^[EWIP]: /.test(l));
  assert.equal(tags, []);
  assert.is(r.status, 0, r.stderr);
});

test.run();
