#!/usr/bin/env node
// The package's Debian version, from package.json's (the one place a version is
// written): a semver pre-release "1.2.0-rc.1" becomes "1.2.0~rc.1", which dpkg
// sorts before 1.2.0 as semver does (a native package has no "-revision").
// debian/rules and scripts/build-deb.mjs both take it from here.
//   node debian/deb-version.mjs   prints it
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The Debian native version of a package.json version, or an error saying why there is none. */
export function debianVersion(npmVersion) {
  const m = /^(\d+\.\d+\.\d+)(?:-([0-9A-Za-z.-]+))?(?:\+([0-9A-Za-z.-]+))?$/.exec(npmVersion);
  if (!m) throw new Error(`package.json version ${JSON.stringify(npmVersion)} is not a semver version (e.g. 0.2.0 or 0.2.0-rc.1)`);
  const [, release, pre, build] = m;
  // In the pre-release and build parts, "-" is not allowed in a native version: "." keeps the order.
  return `${release}${pre ? `~${pre.replace(/-/g, '.')}` : ''}${build ? `+${build.replace(/-/g, '.')}` : ''}`;
}

export function packageVersion(root = resolve(fileURLToPath(import.meta.url), '..', '..')) {
  return JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')).version;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    process.stdout.write(`${debianVersion(packageVersion())}\n`);
  } catch (err) {
    process.stderr.write(`deb-version: ${err.message}\n`);
    process.exit(1);
  }
}
