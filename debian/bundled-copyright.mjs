#!/usr/bin/env node
// Prints debian/copyright followed by one DEP-5 paragraph per npm module
// installed under NODE_MODULES (debian/rules: the package's production
// dependencies), with the standalone License paragraphs those need. Every
// fact comes from the module as installed: name, version and license from
// its package.json, the copyright lines from its license file. A license
// this script has no paragraph for stops the build: someone must read it.
//   node debian/bundled-copyright.mjs NODE_MODULES > debian/nspawn-kit.copyright
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const [nodeModules] = process.argv.slice(2);
if (!nodeModules) {
  process.stderr.write('usage: node debian/bundled-copyright.mjs NODE_MODULES\n');
  process.exit(2);
}
const here = dirname(fileURLToPath(import.meta.url));
const installRoot = '/usr/share/nspawn-kit/node_modules';

/** Standalone License paragraphs: the project's own MIT one is in debian/copyright. */
const LICENSES = {
  MIT: null,
  ISC: [
    'Permission to use, copy, modify, and/or distribute this software for any',
    'purpose with or without fee is hereby granted, provided that the above',
    'copyright notice and this permission notice appear in all copies.',
    '.',
    'THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES',
    'WITH REGARD TO THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF',
    'MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR',
    'ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES',
    'WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN',
    'ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF',
    'OR IN CONNECTION WITH THE USE OR PERFORMANCE OF THIS SOFTWARE.',
  ],
  'Apache-2.0': ['On Debian systems, the complete text of the Apache License, Version 2.0,', 'is in /usr/share/common-licenses/Apache-2.0.'],
  // The PSF license text differs from one project to the next: argparse's own file is quoted.
  'Python-2.0': 'from-module',
};

/**
 * Holders read by hand where the license file names none of its own (zx's is the
 * bare Apache text; argparse's is Python's history): from their source headers.
 */
const HOLDERS = {
  zx: ['2021-2025 Google LLC'],
  argparse: ['2010-2020 Python Software Foundation', '2020 argparse.js authors'],
};

/** Every package directory under a node_modules directory, nested ones and @scopes included. */
function packages(dir) {
  const found = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.name.startsWith('@')) found.push(...packages(path));
    else if (existsSync(join(path, 'package.json'))) {
      found.push(path);
      if (existsSync(join(path, 'node_modules'))) found.push(...packages(join(path, 'node_modules')));
    }
  }
  return found;
}

function licenseFile(dir) {
  const name = readdirSync(dir).find((f) => /^(licen[cs]e|copying)([-.].*)?$/i.test(f));
  return name ? join(dir, name) : undefined;
}

/** A DEP-5 field value over several lines: continuation lines start with a space, empty ones are " .". */
function continued(lines) {
  return lines.map((l) => (l.trim() ? ` ${l.trimEnd()}` : ' .')).join('\n');
}

const paragraphs = [];
const used = new Map();
for (const dir of packages(nodeModules).sort()) {
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const license = typeof pkg.license === 'string' ? pkg.license : undefined;
  if (!license || !Object.hasOwn(LICENSES, license)) {
    process.stderr.write(`bundled-copyright: ${pkg.name}: license ${JSON.stringify(pkg.license)} has no paragraph here; read it and add one\n`);
    process.exit(1);
  }
  const file = licenseFile(dir);
  const text = file ? readFileSync(file, 'utf8') : '';
  const holders = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^copyright\b/i.test(l) && !/notice|license|\[yyyy\]/i.test(l))
    .map((l) => l.replace(/^copyright\s*(\(c\)|©)?\s*/i, ''));
  const copyright = HOLDERS[pkg.name] ?? holders;
  if (!copyright.length) {
    process.stderr.write(`bundled-copyright: ${pkg.name}: no copyright line in its license file; read the module and add its holders to HOLDERS\n`);
    process.exit(1);
  }
  if (LICENSES[license] === 'from-module') used.set(license, text.split('\n'));
  else if (LICENSES[license]) used.set(license, LICENSES[license]);
  paragraphs.push(
    [
      `Files: ${installRoot}/${relative(nodeModules, dir)}/*`,
      `Copyright: ${copyright[0]}${copyright.length > 1 ? `\n${continued(copyright.slice(1))}` : ''}`,
      `License: ${license}`,
      `Comment: ${pkg.name} ${pkg.version}${file ? `; license file ${installRoot}/${relative(nodeModules, file)}` : ''}`,
    ].join('\n'),
  );
}
const standalone = [...used].map(([name, lines]) => `License: ${name}\n${continued(lines)}`);
process.stdout.write([readFileSync(join(here, 'copyright'), 'utf8').trimEnd(), ...paragraphs, ...standalone].join('\n\n') + '\n');
