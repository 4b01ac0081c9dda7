/**
 * The suite lists (<stateDir>/mirror/suites/<codename>.list) and the
 * codename rule: every reader and writer of a list goes through here.
 *
 * A list holds one pool-relative path per line ("pool/main/h/hello/
 * hello_2.10-3_amd64.deb"), sorted (byte order), unique, written atomically,
 * by nspawn-kit alone: the importer and `mirror warm` add, gc and the
 * publisher's quarantine remove, the publisher indexes and signs exactly
 * these files, and the machine-trust check counts them as verified for
 * their codename. So a list is read as strictly as it is written: every line
 * (blank lines aside) must be a path the writer accepts. Any other line means
 * the file was edited or damaged; it is an error naming the file and the
 * lines, never dropped silently, and nothing is signed or rewritten from it.
 */
import { promises as fsp } from 'node:fs';
import type { Shell } from '../shell.js';
import { CODENAME } from '../config/formats.js';
import { suiteKind, suitesOf } from '../config/suite-family.js';
import { suiteListPath, type MirrorLayout } from './layout.js';
import { OperationError } from '../errors.js';

export { CODENAME };

export function assertCodename(codename: string): void {
  if (!CODENAME.test(codename)) {
    throw new OperationError(`invalid codename ${JSON.stringify(codename)}`, 'A codename is lower-case letters, digits and "-", like "bookworm".');
  }
}

/** Printable ASCII without spaces under pool/main/, ending in .deb (components are checked apart). */
const POOL_PATH = /^pool\/main\/[\x21-\x7e]+\.deb$/;

/**
 * A pool-relative path safe to put in a suite list, hand to apt-ftparchive
 * and to gc: under pool/main/, printable ASCII without spaces (a Debian name,
 * version and architecture never need more), no empty, "." or ".." component.
 * Shell metacharacters are allowed: the path never reaches a shell.
 */
export function isPoolPath(rel: string): boolean {
  return POOL_PATH.test(rel) && !rel.split('/').some((part) => part === '' || part === '.' || part === '..');
}

const byteOrder = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export function normalizeSuite(entries: Iterable<string>): string[] {
  return [...new Set(entries)].sort(byteOrder);
}

/**
 * The suite's members, sorted and unique. A codename without a list has
 * none, unless `required` (the publisher: nothing to publish is an error).
 */
export async function readSuite(layout: MirrorLayout, codename: string, opts: { required?: boolean } = {}): Promise<string[]> {
  assertCodename(codename);
  const path = suiteListPath(layout, codename);
  let text: string;
  try {
    text = await fsp.readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    if (!opts.required) return [];
    throw new OperationError(`no suite list for ${codename} (${path})`, `Import packages for ${codename} first: nspawn-kit mirror import.`);
  }
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const bad = lines.filter((l) => !isPoolPath(l));
  if (bad.length) {
    throw new OperationError(
      `${path} holds lines that are not pool paths: ${bad.slice(0, 5).map((b) => JSON.stringify(b)).join(', ')}`,
      'nspawn-kit alone writes this list, one pool path (pool/main/.../name_version_arch.deb) per line: remove those lines (or restore the file), then run the command again.',
    );
  }
  return normalizeSuite(lines);
}

/** Writes the list (sorted, unique) if it differs; returns whether it changed. */
export async function writeSuite(sh: Shell, layout: MirrorLayout, codename: string, entries: Iterable<string>): Promise<boolean> {
  assertCodename(codename);
  const list = normalizeSuite(entries);
  const bad = list.filter((rel) => !isPoolPath(rel));
  if (bad.length) throw new OperationError(`refusing to write suite ${codename}: not pool paths: ${bad.slice(0, 5).map((b) => JSON.stringify(b)).join(', ')}`);
  const path = suiteListPath(layout, codename);
  let before: string | undefined;
  try {
    before = await fsp.readFile(path, 'utf8');
  } catch {
    before = undefined;
  }
  const text = list.length ? `${list.join('\n')}\n` : '';
  if (before === text) return false;
  await sh.mkdir(layout.suites);
  await sh.writeFile(path, text);
  return true;
}

/** Adds entries; returns those that were not there before. */
export async function addToSuite(sh: Shell, layout: MirrorLayout, codename: string, entries: Iterable<string>): Promise<string[]> {
  const current = await readSuite(layout, codename);
  const have = new Set(current);
  const added = normalizeSuite([...entries].filter((e) => !have.has(e)));
  if (added.length) await writeSuite(sh, layout, codename, [...current, ...added]);
  return added;
}

/** Removes entries; returns those that were there. */
export async function removeFromSuite(sh: Shell, layout: MirrorLayout, codename: string, entries: Iterable<string>): Promise<string[]> {
  const drop = new Set(entries);
  const current = await readSuite(layout, codename);
  const removed = current.filter((e) => drop.has(e));
  if (removed.length) await writeSuite(sh, layout, codename, current.filter((e) => !drop.has(e)));
  return removed;
}

/** Codenames that have a suite list, sorted (a file not named <codename>.list is not one). */
export async function listSuites(layout: MirrorLayout): Promise<string[]> {
  let names: string[];
  try {
    names = await fsp.readdir(layout.suites);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return names
    .filter((n) => n.endsWith('.list'))
    .map((n) => n.slice(0, -'.list'.length))
    .filter((c) => CODENAME.test(c))
    .sort(byteOrder);
}

/**
 * The suites the publisher signs: every suite with a list, and with each
 * the other suites of its family (release, -updates, -security), published
 * empty while nothing is listed there, so a machine whose sources name all
 * three finds each one signed (a fresh -security has nothing yet).
 */
export async function suitesToPublish(layout: MirrorLayout): Promise<string[]> {
  const out = new Set<string>();
  for (const suite of await listSuites(layout)) {
    out.add(suite);
    for (const s of suitesOf(suiteKind(suite).codename, true)) if (CODENAME.test(s)) out.add(s);
  }
  return [...out].sort(byteOrder);
}
