#!/usr/bin/env node
// `npm run deb`: builds nspawn-kit_<version>_all.deb with dpkg-buildpackage and
// debhelper (debian/). The build runs in a copy of the sources under dist-deb/
// (gitignored), so the checkout is left as it was and dpkg-buildpackage's
// output (written to the parent of the tree it builds) lands in dist-deb/.
// The copy gets the checkout's node_modules (tsc, a devDependency) by a
// symlink; what the package ships is installed by debian/rules with
// `npm ci --omit=dev` from package-lock.json, never taken from node_modules.
// The version is package.json's, spelled for Debian by debian/deb-version.mjs
// (1.2.0-rc.1 -> 1.2.0~rc.1): it is written into the top changelog entry of
// the copy (and debian/rules passes it to dh_gencontrol).
// Prints the path of the .deb on stdout, the build's own output on stderr.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { debianVersion } from '../debian/deb-version.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = resolve(process.env.NSPAWN_KIT_DEB_OUT || join(root, 'dist-deb'));
const { name, version: npmVersion } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

/** What the package is built from (debian/rules reads nothing else). */
const SOURCES = ['package.json', 'package-lock.json', 'tsconfig.json', 'src', 'tasks', 'hooks', 'recipes', 'debian', 'README.md', 'nspawnrc.schema.json', 'recipe.schema.json', 'nspawnrc.example.json'];

function fail(message, hint) {
  process.stderr.write(`build-deb: ${message}\n${hint ? `  ${hint}\n` : ''}`);
  process.exit(1);
}

/** The top changelog entry's version made the package's (a Debian native version: no revision). */
function withVersion(changelog, pkgName, pkgVersion) {
  const first = /^(\S+) \(([^)]+)\)/.exec(changelog);
  if (!first || first[1] !== pkgName) fail(`debian/changelog does not start with an entry of ${pkgName}`);
  return changelog.replace(/^(\S+) \(([^)]+)\)/, `$1 (${pkgVersion})`);
}

const args = process.argv.slice(2);
if (args.length) {
  const usage = 'usage: npm run deb  (NSPAWN_KIT_DEB_OUT=DIR: build into DIR instead of dist-deb/)';
  if (args.length === 1 && (args[0] === '--help' || args[0] === '-h')) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  fail(`unexpected arguments: ${args.join(' ')}`, usage);
}
let version;
try {
  version = debianVersion(npmVersion);
} catch (err) {
  fail(err.message, 'Set a semver version in package.json (npm version ...).');
}
if (!existsSync(join(root, 'node_modules', 'typescript'))) fail('node_modules lacks typescript (a devDependency the build runs)', 'Run `npm ci` in the checkout first.');
if (spawnSync('sh', ['-c', 'command -v dpkg-checkbuilddeps']).status !== 0) fail('dpkg-buildpackage is not installed', 'apt-get install build-essential debhelper');
// What dpkg-buildpackage would refuse to start without (Build-Depends and build-essential), said before anything is copied.
const deps = spawnSync('dpkg-checkbuilddeps', [join(root, 'debian', 'control')], { encoding: 'utf8' });
if (deps.status !== 0) fail(deps.stderr.trim(), 'apt-get install build-essential debhelper (and nodejs 20 or later with npm)');

const tree = join(outDir, `${name}-${version}`);
const deb = join(outDir, `${name}_${version}_all.deb`);
rmSync(tree, { recursive: true, force: true });
// This version's earlier outputs (.deb, .buildinfo, .changes): never a stale file where the new one is expected.
for (const old of existsSync(outDir) ? readdirSync(outDir) : []) if (old.startsWith(`${name}_${version}_`)) rmSync(join(outDir, old), { force: true });
mkdirSync(tree, { recursive: true });
for (const entry of SOURCES) cpSync(join(root, entry), join(tree, entry), { recursive: true, preserveTimestamps: true });
symlinkSync(join(root, 'node_modules'), join(tree, 'node_modules'));
const changelog = join(tree, 'debian', 'changelog');
writeFileSync(changelog, withVersion(readFileSync(changelog, 'utf8'), name, version));

const started = Date.now();
// --build=all: the one architecture-independent package, no source package (nothing to upload); unsigned.
const r = spawnSync('dpkg-buildpackage', ['--build=all', '--no-sign'], { cwd: tree, stdio: ['ignore', process.stderr, process.stderr] });
if (r.status !== 0) fail(`dpkg-buildpackage failed (exit ${r.status ?? r.signal}); the build tree is kept in ${tree}`);
rmSync(tree, { recursive: true, force: true });
if (!existsSync(deb)) fail(`dpkg-buildpackage succeeded but ${deb} is missing`);
process.stderr.write(`build-deb: built in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
process.stdout.write(`${deb}\n`);
