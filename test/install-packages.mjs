#!/usr/bin/env node
// npm's pretest step: the Debian packages the tests need, from the one list
// (.ci/debian-packages.txt, which .ci/run reads too). All installed: done,
// nothing else runs (dpkg-query only). Some missing: as root, apt-get update
// and install them; otherwise say which and what to run, and carry on (the
// tiers that need them say they are skipped, and why; the unit tier runs).
//   node test/install-packages.mjs [--print] [LIST]
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
export const PACKAGE_LIST = join(ROOT, '.ci', 'debian-packages.txt');

/** Debian policy 5.6.1: lower case letters, digits, + - . ; at least two characters, starting alphanumeric. */
const NAME = /^[a-z0-9][a-z0-9+.-]+$/;

/** The package names of a list's text, in order, each once; "#" starts a comment. Throws on anything else. */
export function parsePackageList(text, file = 'the package list') {
  const names = [];
  const problems = [];
  text.split(/\r?\n/).forEach((line, i) => {
    const words = line.replace(/#.*/, '').trim().split(/\s+/).filter(Boolean);
    if (words.length > 1) problems.push(`${file}:${i + 1}: one package per line, got ${JSON.stringify(line.trim())}`);
    for (const w of words) {
      if (!NAME.test(w)) problems.push(`${file}:${i + 1}: not a Debian package name: ${JSON.stringify(w)}`);
      else if (!names.includes(w)) names.push(w);
    }
  });
  if (problems.length) throw new Error(problems.join('\n'));
  return names;
}

/** The names of the list that dpkg does not have installed ("ii"), in list order. */
export function missingPackages(names) {
  if (!names.length) return [];
  const r = spawnSync('dpkg-query', ['-W', '-f=${Package} ${db:Status-Abbrev}\n', '--', ...names], { encoding: 'utf8' });
  if (r.error) throw new Error(`dpkg-query: ${r.error.message} (this step needs a Debian system)`);
  const installed = new Set(
    r.stdout
      .split('\n')
      .map((l) => l.split(' '))
      .filter(([, status]) => status === 'ii')
      .map(([name]) => name),
  );
  return names.filter((n) => !installed.has(n));
}

function run(cmd, args) {
  console.log(`pretest: ${[cmd, ...args].join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (r.status !== 0) {
    console.error(`pretest: ${cmd} ${args[0]} failed (exit ${r.status ?? r.signal}); fix the host's apt sources or network and run \`npm run pretest\` again.`);
    process.exit(1);
  }
}

function main(argv) {
  const print = argv.includes('--print');
  const file = argv.find((a) => !a.startsWith('--')) ?? PACKAGE_LIST;
  const rel = relative(process.cwd(), file);
  const shown = rel && !rel.startsWith('..') ? rel : file;
  let names;
  try {
    names = parsePackageList(readFileSync(file, 'utf8'), shown);
  } catch (err) {
    console.error(`pretest: ${err.message}`);
    return 2;
  }
  if (print) {
    if (names.length) console.log(names.join('\n'));
    return 0;
  }
  const missing = missingPackages(names);
  if (!missing.length) return 0;
  if (process.getuid?.() !== 0) {
    console.log(`pretest: ${missing.length} Debian package(s) of ${shown} not installed: ${missing.join(' ')}`);
    console.log(`pretest: as root, run \`npm run pretest\` (or: apt-get install ${missing.join(' ')}); until then the test tiers that need them are skipped, each with its reason.`);
    return 0;
  }
  run('apt-get', ['update', '-q']);
  run('apt-get', ['install', '-y', '-q', '--', ...missing]);
  const still = missingPackages(names);
  if (still.length) {
    console.error(`pretest: still not installed after apt-get install: ${still.join(' ')}`);
    return 1;
  }
  return 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) process.exitCode = main(process.argv.slice(2));
