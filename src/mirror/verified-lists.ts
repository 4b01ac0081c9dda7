/**
 * Which Packages lists nspawn-kit counts as verified for a codename's family
 * (the release, -updates, -security: config/suite-family.ts), and which suite
 * each one speaks for:
 *   - the lists of the private apt roots `mirror warm` and refresh keep
 *     (<state>/warm/<codename>/apt-<recipe>/state/lists), which apt fetched and
 *     checked against the upstream's keyring; apt names each after its source
 *     (`deb.debian.org_debian-security_dists_bookworm-security_main_binary-amd64_Packages`,
 *     apt-root.ts listPrefix), and the root's family record names the family's
 *     own sources, so sourceOfList says which suite a list speaks for; any
 *     other list (an extra repository's) speaks for the release and is not
 *     `own` (it gives no Priority or Section: overrides.ts);
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
import { readFamilyRecord, sourceOfList } from './apt-root.js';

/** A verified list and the suite it speaks for. */
export interface VerifiedList {
  path: string;
  suite: string;
  /** Fetched from one of the family's own upstream sources (the root's family record), never an extra repository's. */
  own?: boolean;
}

/** The list names apt moves into place once verified (partial/ holds unverified downloads). */
export const LIST_NAME = /_Packages(\.gz|\.xz|\.lz4|\.zst|\.bz2|\.lzma)?$/;

/** The release codename of a suite's family (`bookworm-security` -> `bookworm`). */
export function familyOf(suite: string): string {
  return suiteKind(suite).codename;
}

/**
 * The suite a warm list of a root WITHOUT a family record speaks for (a root written before
 * warm kept the record, or a test fixture), read from apt's file name (after the last `_dists_`),
 * the release when it names another suite. Used for trust only: such a list is never `own`, so
 * it gives no Priority or Section; the next warm or refresh writes the record, and then
 * sourceOfList (apt-root.ts) decides.
 */
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
    const family = (await readFamilyRecord(root))?.filter((f) => inFamily(release, f.suite));
    for (const e of await fsp.readdir(lists, { withFileTypes: true }).catch(() => [])) {
      if (!e.isFile() || !LIST_NAME.test(e.name)) continue;
      const path = join(lists, e.name);
      if (!family) {
        out.push({ path, suite: suiteOfList(e.name, release), own: false });
        continue;
      }
      // An extra repository's list (no family source) speaks for the release, and is not the family's own.
      const source = sourceOfList(e.name, family);
      out.push({ path, suite: source?.suite ?? release, own: source !== undefined });
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
