/**
 * A local Debian-layout upstream made at test time: an archive directory
 * (`<dir>/debian`: the release and -updates) and a security archive
 * (`<dir>/debian-security`: -security), each suite with its own Packages.xz
 * (apt-ftparchive) and an InRelease clear-signed with a throwaway key. apt
 * reads it through file:// and verifies it with the exported public key.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportKey, stopAgent, testKeyring } from './gpg.js';

export interface FixtureDeb {
  name: string;
  version: string;
  depends?: string;
  /** Priority in the control file (apt-ftparchive keeps it without an override): "required" puts it in debootstrap's base set. */
  priority?: string;
  arch?: string;
}

export interface Upstream {
  /** file:// URL of the archive holding the release and -updates. */
  archive: string;
  /** file:// URL of the security archive. */
  security: string;
  /** Binary public key that signs every suite. */
  keyring: string;
  /** Puts a .deb into a suite (pool/<suite>/...) and signs that suite's index again; returns the .deb's path. */
  add(suite: string, deb: FixtureDeb): string;
  cleanup(): void;
}

/** One .deb with the given control fields (dpkg-deb, gzip). */
export function buildDeb(outDir: string, d: FixtureDeb): string {
  const arch = d.arch ?? 'amd64';
  const work = mkdtempSync(join(tmpdir(), 'nk-updeb-'));
  try {
    mkdirSync(join(work, 'DEBIAN'));
    const control = [
      `Package: ${d.name}`,
      `Version: ${d.version}`,
      `Architecture: ${arch}`,
      'Maintainer: nspawn-kit tests <tests@example.invalid>',
      ...(d.depends ? [`Depends: ${d.depends}`] : []),
      'Section: misc',
      `Priority: ${d.priority ?? 'optional'}`,
      `Description: upstream fixture ${d.name}`,
      '',
    ].join('\n');
    writeFileSync(join(work, 'DEBIAN', 'control'), control);
    mkdirSync(join(work, 'usr', 'share', d.name), { recursive: true });
    writeFileSync(join(work, 'usr', 'share', d.name, 'version'), `${d.name} ${d.version}\n`);
    mkdirSync(outDir, { recursive: true });
    const out = join(outDir, `${d.name}_${d.version.replace(/^\d+:/, '')}_${arch}.deb`);
    execFileSync('dpkg-deb', ['-Zgzip', '-z1', '--root-owner-group', '--build', work, out], { stdio: 'ignore' });
    return out;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * The upstream under `dir`, with empty suites `<codename>`, `-updates` (archive) and `-security` (security archive).
 * Each Release says `Codename: <suite>` (Debian's layout), or with `ubuntuCodenames` `Codename: <codename>` for
 * every suite (Ubuntu's: jammy-security says `Codename: jammy`).
 */
export function makeUpstream(dir: string, codename = 'bookworm', opts: { ubuntuCodenames?: boolean } = {}): Upstream {
  mkdirSync(dir, { recursive: true });
  const env = testKeyring(dir, 'upstream-key');
  const keyring = join(dir, 'upstream-key.gpg');
  writeFileSync(keyring, exportKey(env, false));
  const archive = join(dir, 'debian');
  const security = join(dir, 'debian-security');
  const rootOf = (suite: string): string => (suite.endsWith('-security') ? security : archive);
  const sign = (suite: string): void => {
    const root = rootOf(suite);
    const bin = join(root, 'dists', suite, 'main', 'binary-amd64');
    mkdirSync(bin, { recursive: true });
    mkdirSync(join(root, 'pool', suite), { recursive: true });
    const packages = execFileSync('apt-ftparchive', ['packages', `pool/${suite}`], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    writeFileSync(join(bin, 'Packages'), packages);
    rmSync(join(bin, 'Packages.xz'), { force: true });
    writeFileSync(join(bin, 'Packages.xz'), execFileSync('xz', ['-c'], { input: packages }));
    rmSync(join(root, 'dists', suite, 'Release'), { force: true });
    rmSync(join(root, 'dists', suite, 'InRelease'), { force: true });
    const release = execFileSync(
      'apt-ftparchive',
      [
        '-o', `APT::FTPArchive::Release::Suite=${suite}`,
        '-o', `APT::FTPArchive::Release::Codename=${opts.ubuntuCodenames ? codename : suite}`,
        '-o', 'APT::FTPArchive::Release::Architectures=amd64',
        '-o', 'APT::FTPArchive::Release::Components=main',
        'release', '.',
      ],
      { cwd: join(root, 'dists', suite), encoding: 'utf8' },
    );
    writeFileSync(join(root, 'dists', suite, 'Release'), release);
    // As Debian's archive: the Release names the uncompressed list's hashes, the archive serves only Packages.xz
    // (apt then keeps a real file in its lists; an uncompressed list over file:// is a symlink to the upstream's).
    rmSync(join(bin, 'Packages'));
    execFileSync('gpg', ['--batch', '--yes', '--clearsign', '--digest-algo', 'SHA256', '-o', join(root, 'dists', suite, 'InRelease'), join(root, 'dists', suite, 'Release')], { env, stdio: 'ignore' });
  };
  for (const suite of [codename, `${codename}-updates`, `${codename}-security`]) sign(suite);
  return {
    archive: `file://${archive}`,
    security: `file://${security}`,
    keyring,
    add(suite, deb) {
      const dest = join(rootOf(suite), 'pool', suite, 'main', deb.name);
      const path = buildDeb(dest, deb);
      sign(suite);
      return path;
    },
    cleanup() {
      stopAgent(env);
    },
  };
}
