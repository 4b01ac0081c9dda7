/**
 * `mirror verify`: what a careful apt client would check, for every suite,
 * plus the pool behind it: the InRelease signature (gpgv against the
 * published binary keyring, so the check uses what clients use), Release.gpg,
 * expiry, every index file and by-hash copy against the Release hashes, and
 * every Packages entry against its pool file (size, SHA256, and the package
 * nspawn-kit validated it as: index-check.ts), with the pool file's ar layout
 * checked again. Reads only.
 */
import { promises as fsp } from 'node:fs';
import { join, posix } from 'node:path';
import { exists } from '../shell.js';
import type { MirrorContext } from './context.js';
import { CODENAME, isPoolPath, listSuites } from './suites.js';
import { mirrorLayout, type MirrorLayout } from './layout.js';
import { byHashPaths, hashFile, parseRelease, type IndexFile } from './release.js';
import { checkDebFile } from './ar.js';
import { layoutReason } from './deb.js';
import { indexStanzas, inspectPoolFiles, stanzaDisagreement, type Validated } from './index-check.js';
import { loadPoolIndex, type PoolIndex } from './pool.js';

export interface SuiteVerification {
  codename: string;
  /** Packages entries checked (over all architectures). */
  packages: number;
  validUntil: string | undefined;
}

export interface VerifyReport {
  ok: boolean;
  suites: SuiteVerification[];
  /** "<codename>: <path>: <what is wrong>", one per problem. */
  problems: string[];
  /** Worth knowing, not failures (e.g. plain indices newer than InRelease after an interrupted publish). */
  warnings: string[];
}

export interface VerifyOptions {
  codenames?: string[];
  /** The time expiry is judged against (default: now). */
  now?: Date;
}

/** Codenames published under dists/ or listed under suites/. */
async function suitesToCheck(layout: MirrorLayout): Promise<string[]> {
  const published = (await exists(layout.dists)) ? (await fsp.readdir(layout.dists)).filter((d) => CODENAME.test(d)) : [];
  return [...new Set([...published, ...(await listSuites(layout))])].sort();
}

export async function verifyMirror(ctx: MirrorContext, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const layout = mirrorLayout(ctx.config);
  const now = opts.now ?? new Date();
  const problems: string[] = [];
  const warnings: string[] = [];
  const suites: SuiteVerification[] = [];
  // A pool file listed by several suites or architectures is hashed once.
  const poolHashes = new Map<string, Promise<IndexFile | undefined>>();
  const poolIndex = await loadPoolIndex(layout);
  const identities = new Map<string, Validated>();
  const identity: Identity = (items) => validatedAs(ctx, layout, poolIndex, identities, items);
  if (!(await exists(layout.publicKeyring))) problems.push(`${layout.publicKeyring}: missing public keyring (publish creates it)`);
  for (const codename of opts.codenames ?? (await suitesToCheck(layout))) {
    const found: string[] = [];
    const noted: string[] = [];
    suites.push(await verifySuite(ctx, layout, codename, now, found, noted, poolHashes, identity));
    problems.push(...found.map((p) => `${codename}: ${p}`));
    warnings.push(...noted.map((p) => `${codename}: ${p}`));
  }
  return { ok: problems.length === 0, suites, problems, warnings };
}

async function verifySuite(
  ctx: MirrorContext,
  layout: MirrorLayout,
  codename: string,
  now: Date,
  problems: string[],
  warnings: string[],
  poolHashes: Map<string, Promise<IndexFile | undefined>>,
  identity: Identity,
): Promise<SuiteVerification> {
  const result: SuiteVerification = { codename, packages: 0, validUntil: undefined };
  const suiteDir = join(layout.dists, codename);
  const inRelease = join(suiteDir, 'InRelease');
  if (!(await exists(inRelease))) {
    problems.push('InRelease: missing (run `nspawn-kit mirror publish`)');
    return result;
  }
  const gpgv = (args: string[]) =>
    ctx.sh.read(['gpgv', ['--keyring', layout.publicKeyring, ...args]], { nothrow: true, signal: ctx.signal });
  const signed = await gpgv(['--output', '-', '--', inRelease]);
  if (signed.exitCode !== 0) {
    problems.push(`InRelease: bad or missing signature: ${lastLine(signed.stderr)}`);
    return result; // nothing in an unauthenticated Release is worth checking against
  }
  if (await exists(join(suiteDir, 'Release.gpg'))) {
    const detached = await gpgv(['--', join(suiteDir, 'Release.gpg'), join(suiteDir, 'Release')]);
    if (detached.exitCode !== 0) {
      // Release and Release.gpg are two renames; a publish killed between them leaves this pair behind a valid InRelease.
      const release = await fsp.readFile(join(suiteDir, 'Release'), 'utf8').catch(() => '');
      const note = `Release.gpg: does not verify Release: ${lastLine(detached.stderr)}`;
      if (release !== signed.stdout) warnings.push(`${note} (Release differs from InRelease: an interrupted publish? publish again)`);
      else problems.push(note);
    }
  } else {
    problems.push('Release.gpg: missing');
  }
  const release = parseRelease(signed.stdout);
  result.validUntil = release.validUntil?.toISOString();
  if (!release.validUntil) problems.push('InRelease: no Valid-Until');
  else if (release.validUntil.getTime() <= now.getTime()) problems.push(`InRelease: expired on ${release.validUntil.toISOString()} (publish again)`);
  if (!release.sha256.length) problems.push('InRelease: no SHA256 entries');

  const sha512 = new Map(release.sha512.map((e) => [e.path, e.hash]));
  for (const entry of release.sha256) {
    if (!/^main\/binary-[a-z0-9-]+\/Packages(\.gz|\.xz)?$/.test(entry.path)) {
      problems.push(`InRelease: unexpected entry ${entry.path}`);
      continue;
    }
    const expected = { path: entry.path, size: entry.size, sha256: entry.hash, sha512: sha512.get(entry.path) ?? '' };
    if (!expected.sha512) problems.push(`${entry.path}: no SHA512 in InRelease`);
    const byHash = release.fields['Acquire-By-Hash'] === 'yes';
    const [hashPath] = byHashPaths(expected);
    for (const path of [entry.path, ...byHashPaths(expected)]) {
      const actual = await hashFile(join(suiteDir, path), path).catch(() => undefined);
      const matches = actual && actual.size === expected.size && actual.sha256 === expected.sha256 && (!expected.sha512 || actual.sha512 === expected.sha512);
      if (matches) continue;
      const what = actual ? `does not match InRelease (size ${actual.size}, expected ${expected.size})` : 'missing';
      // An interrupted publish leaves new plain indices beside the old InRelease; by-hash clients
      // are unaffected. Only a plain file that is itself one of our by-hash copies (a newer
      // publication's) counts as that; any other content is corruption or tampering.
      const ours = actual !== undefined && (await exists(join(suiteDir, posix.dirname(entry.path), 'by-hash', 'SHA256', actual.sha256)));
      if (path === entry.path && byHash && ours) warnings.push(`${path}: ${what}; by-hash copies are intact (an interrupted publish? publish again)`);
      else problems.push(`${path}: ${what}`);
    }
    if (entry.path.endsWith('/Packages') && hashPath) {
      // The by-hash copy is the text InRelease vouches for.
      const text = await fsp.readFile(join(suiteDir, byHash ? hashPath : entry.path), 'utf8').catch(() => '');
      result.packages += await verifyPackages(layout, indexStanzas(text), entry.path, problems, poolHashes, identity);
    }
  }
  return result;
}

/** Every entry's pool file exists with the listed size and SHA256. Returns the number of entries. */
async function verifyPackages(
  layout: MirrorLayout,
  stanzas: ReturnType<typeof indexStanzas>,
  index: string,
  problems: string[],
  poolHashes: Map<string, Promise<IndexFile | undefined>>,
  identity: Identity,
): Promise<number> {
  const checks: Array<{ s: (typeof stanzas)[number]; file: string; sha256: string }> = [];
  for (const s of stanzas) {
    const file = s['Filename'] ?? '';
    const where = `${index}: ${s['Package'] ?? '?'} ${s['Version'] ?? '?'}`;
    if (!isPoolPath(file)) {
      problems.push(`${where}: bad Filename ${JSON.stringify(file)}`);
      continue;
    }
    let pending = poolHashes.get(file);
    if (!pending) {
      pending = hashFile(join(layout.root, file), file).catch(() => undefined);
      poolHashes.set(file, pending);
    }
    const actual = await pending;
    if (!actual) problems.push(`${file}: missing from the pool (listed in ${index})`);
    else if (String(actual.size) !== s['Size']) problems.push(`${file}: size ${actual.size}, ${index} says ${s['Size'] ?? 'nothing'}`);
    else if (actual.sha256 !== (s['SHA256'] ?? '').toLowerCase()) problems.push(`${file}: SHA256 differs from ${index}`);
    else checks.push({ s, file, sha256: actual.sha256 });
  }
  const ids = await identity(checks.map((c) => ({ file: c.file, sha256: c.sha256 })));
  for (const c of checks) {
    const why = stanzaDisagreement(c.s, ids.get(c.file));
    if (why) problems.push(`${c.file}: ${why} (${index})`);
  }
  return stanzas.length;
}

/** What nspawn-kit validated each pool file as (files already resolved are not looked at again). */
type Identity = (items: Array<{ file: string; sha256: string }>) => Promise<Map<string, Validated>>;

/**
 * What nspawn-kit validated these pool files as: each one's ar layout checked
 * again, then the pool index entry of these very bytes, else a full
 * inspection now (one batch).
 */
async function validatedAs(
  ctx: MirrorContext,
  layout: MirrorLayout,
  index: PoolIndex,
  seen: Map<string, Validated>,
  items: Array<{ file: string; sha256: string }>,
): Promise<Map<string, Validated>> {
  const inspect = new Set<string>();
  for (const { file, sha256 } of items) {
    if (seen.has(file)) continue;
    const ar = await checkDebFile(join(layout.root, file));
    const known = index.files[file];
    if (!ar.ok) seen.set(file, { ok: false, reason: layoutReason(ar.reason) });
    else if (known && known.sha256 === sha256) seen.set(file, { ok: true, pkg: known });
    else inspect.add(file);
  }
  for (const [file, v] of await inspectPoolFiles(ctx, layout, [...inspect])) seen.set(file, v);
  return seen;
}

function lastLine(text: string): string {
  return text.trim().split('\n').pop() ?? 'gpgv failed';
}
