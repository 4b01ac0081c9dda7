/**
 * Which Packages lists nspawn-kit counts as verified for a codename's family
 * (the release, -updates, -security: config/suite-family.ts), and which suite
 * each one speaks for:
 *   - the lists of the private apt roots `mirror warm` keeps
 *     (<state>/warm/<codename>/apt-<recipe>/state/lists), which apt fetched and
 *     checked against the upstream's keyring; apt names each after its source
 *     (`deb.debian.org_debian-security_dists_bookworm-security_main_binary-amd64_Packages`,
 *     apt-root.ts listPrefix), so the suite is the part after the last `_dists_`;
 *     a list of another suite (an extra repository's) speaks for the release;
 *   - the mirror's own published dists/<suite>/main/binary-<arch>/Packages
 *     of every suite of the family.
 * A list fetched for another codename never counts: a bookworm machine cannot
 * bring a trixie (or trixie-security) package into bookworm.
 */
import { promises as fsp } from 'node:fs';
import { basename, join } from 'node:path';
import { inFamily, suiteKind, suitesOf } from '../config/suite-family.js';
import type { MirrorLayout } from './layout.js';
import { CODENAME } from './suites.js';

/** A verified list and the suite it speaks for. */
export interface VerifiedList {
  path: string;
  suite: string;
}

/** The list names apt moves into place once verified (partial/ holds unverified downloads). */
export const LIST_NAME = /_Packages(\.gz|\.xz|\.lz4|\.zst|\.bz2|\.lzma)?$/;

/** The release codename of a suite's family (`bookworm-security` -> `bookworm`). */
export function familyOf(suite: string): string {
  return suiteKind(suite).codename;
}

/** The suite a warm list of `codename`'s roots speaks for (by apt's file name), or the release when it names another. */
export function suiteOfList(fileName: string, codename: string): string {
  const m = /^.*_dists_([a-z][a-z0-9-]{1,63})_/.exec(fileName);
  const suite = m?.[1];
  return suite !== undefined && CODENAME.test(suite) && inFamily(codename, suite) ? suite : codename;
}

async function subdirs(dir: string): Promise<string[]> {
  return (await fsp.readdir(dir, { withFileTypes: true }).catch(() => [])).filter((e) => e.isDirectory()).map((e) => join(dir, e.name));
}

/** The verified lists of the warm roots of a codename's family, each with its suite. */
export async function warmLists(layout: MirrorLayout, codename: string): Promise<VerifiedList[]> {
  const release = familyOf(codename);
  if (!CODENAME.test(release)) return [];
  const out: VerifiedList[] = [];
  for (const root of await subdirs(join(layout.state, 'warm', release))) {
    if (!/\/apt-[^/]+$/.test(root)) continue;
    const lists = join(root, 'state', 'lists');
    for (const e of await fsp.readdir(lists, { withFileTypes: true }).catch(() => [])) {
      if (e.isFile() && LIST_NAME.test(e.name)) out.push({ path: join(lists, e.name), suite: suiteOfList(e.name, release) });
    }
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** The mirror's published Packages of every suite of the family (those published at all). */
export async function publishedLists(layout: MirrorLayout, codename: string): Promise<VerifiedList[]> {
  const release = familyOf(codename);
  if (!CODENAME.test(release)) return [];
  const out: VerifiedList[] = [];
  for (const suite of suitesOf(release, true)) {
    for (const component of await subdirs(join(layout.dists, suite))) {
      for (const binary of await subdirs(component)) {
        const packages = join(binary, 'Packages');
        if (/\/binary-[^/]+$/.test(binary) && (await fsp.stat(packages).catch(() => undefined))?.isFile()) out.push({ path: packages, suite });
      }
    }
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * Of lists with the same file name (the same upstream source, fetched by
 * several recipes' roots), the newest: the others are older copies of it.
 */
export async function newestByName(lists: VerifiedList[]): Promise<VerifiedList[]> {
  const best = new Map<string, { list: VerifiedList; mtime: number }>();
  for (const list of lists) {
    const mtime = (await fsp.stat(list.path).catch(() => undefined))?.mtimeMs;
    if (mtime === undefined) continue;
    const name = basename(list.path);
    const had = best.get(name);
    if (!had || mtime > had.mtime) best.set(name, { list, mtime });
  }
  return [...best.values()].map((b) => b.list).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
