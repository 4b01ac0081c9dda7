/**
 * Suite membership lists (<stateDir>/mirror/suites/<codename>.list): one
 * pool-relative path per line, sorted (byte order), unique, written
 * atomically. The importer adds, gc removes, the publisher indexes them.
 */
import { promises as fsp } from 'node:fs';
import type { Shell } from '../shell.js';
import { suiteListPath, type MirrorLayout } from './layout.js';
import { OperationError } from '../errors.js';

export const CODENAME = /^[a-z][a-z0-9-]{1,31}$/;
const POOL_PATH = /^pool\/[A-Za-z0-9+._~%/-]+\.deb$/;

export function assertCodename(codename: string): void {
  if (!CODENAME.test(codename)) {
    throw new OperationError(`invalid codename ${JSON.stringify(codename)}`, 'A codename is lower-case letters, digits and "-", like "bookworm".');
  }
}

/** A pool-relative path safe to put in a suite list. */
export function isPoolPath(rel: string): boolean {
  return POOL_PATH.test(rel) && !rel.split('/').includes('..');
}

const byteOrder = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export function normalizeSuite(entries: Iterable<string>): string[] {
  return [...new Set(entries)].sort(byteOrder);
}

export async function readSuite(layout: MirrorLayout, codename: string): Promise<string[]> {
  assertCodename(codename);
  let text: string;
  try {
    text = await fsp.readFile(suiteListPath(layout, codename), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return normalizeSuite(
    text
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#')),
  );
}

/** Writes the list (sorted, unique) if it differs; returns whether it changed. */
export async function writeSuite(sh: Shell, layout: MirrorLayout, codename: string, entries: Iterable<string>): Promise<boolean> {
  assertCodename(codename);
  const list = normalizeSuite(entries);
  const bad = list.filter((rel) => !isPoolPath(rel));
  if (bad.length) throw new OperationError(`refusing to write suite ${codename}: not pool paths: ${bad.slice(0, 5).join(', ')}`);
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

export async function removeFromSuite(sh: Shell, layout: MirrorLayout, codename: string, entries: Iterable<string>): Promise<string[]> {
  const drop = new Set(entries);
  const current = await readSuite(layout, codename);
  const removed = current.filter((e) => drop.has(e));
  if (removed.length) await writeSuite(sh, layout, codename, current.filter((e) => !drop.has(e)));
  return removed;
}

/** Codenames that have a suite list. */
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
