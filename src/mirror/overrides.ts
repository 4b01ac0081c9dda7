/**
 * Priority and Section the Debian way: from the upstream's index (the
 * archive's override decisions), not from a .deb's control file, so the
 * published Packages match Debian's for the same .debs (apt and debconf are
 * `required` upstream but say `important` in their control files; without
 * this, mmdebstrap's minbase from the mirror lacks apt).
 *
 * The source: the verified lists of the warm roots (verified-lists.ts) that
 * come from the family's own upstream sources (never an extra repository's),
 * for a suite its own lists first (upstream -security for bookworm-security),
 * then the release's. Every value is validated (Priority one of Debian's
 * five, Section a plain token like `admin` or `non-free/net`); a stanza with
 * any other value gives no entry, so that package keeps its control file's
 * values, as does a package no list names (apt-ftparchive, run with -q, says
 * nothing about those).
 *
 * The lists are ~50 MB: they are parsed only when one changed. The result is a
 * compact apt-ftparchive binary override file per suite
 * (<state>/overrides/<suite>, `package priority section` lines) beside the
 * stamps of the lists it was made from; a publish only stats the lists, and
 * hands apt-ftparchive the lines of the suite's own packages (it reads a
 * 60,000-line override file in ~0.12 s per process; the suite's lines, in none).
 */
import { promises as fsp } from 'node:fs';
import { basename, join } from 'node:path';
import type { Shell } from '../shell.js';
import type { MirrorLayout } from './layout.js';
import { assertCodename } from './suites.js';
import { scratchFile } from './ftparchive.js';
import { readPackagesFile } from './trusted-index.js';
import { familyOf, newestByName, warmLists, type VerifiedList } from './verified-lists.js';

/** Debian's priorities (Policy 2.5; `extra` is deprecated but still found). */
export const PRIORITIES: ReadonlySet<string> = new Set(['required', 'important', 'standard', 'optional', 'extra']);
/** A section: a token, optionally behind its archive area (`admin`, `non-free/net`, `contrib/libs`). */
export const SECTION = /^(?:[a-z0-9][a-z0-9+.-]{0,39}\/)?[a-z0-9][a-z0-9+.-]{0,39}$/;
/** A package name (Policy 5.6.1). */
export const PACKAGE_NAME = /^[a-z0-9][a-z0-9+.-]{0,127}$/;

/** Package name -> "priority section", valid values only. */
export type OverrideMap = Map<string, string>;

/** Whether (priority, section) may go into an override file; any other value is never passed on. */
export function validOverride(priority: string | undefined, section: string | undefined): boolean {
  return priority !== undefined && section !== undefined && PRIORITIES.has(priority) && SECTION.test(section);
}

/**
 * Package, Priority and Section of every stanza of a Packages text. A field
 * written twice or continued on a further line is no value (nothing of it is
 * taken); the first stanza of a package name wins.
 */
export function parseOverrides(text: string, into: OverrideMap = new Map()): OverrideMap {
  let name: string | undefined;
  let priority: string | undefined;
  let section: string | undefined;
  let last = '';
  let bad = false;
  const flush = (): void => {
    if (!bad && name !== undefined && PACKAGE_NAME.test(name) && validOverride(priority, section) && !into.has(name)) into.set(name, `${priority} ${section}`);
    name = priority = section = undefined;
    last = '';
    bad = false;
  };
  for (let pos = 0; pos <= text.length; ) {
    let end = text.indexOf('\n', pos);
    if (end < 0) end = text.length;
    const line = text.slice(pos, end);
    pos = end + 1;
    if (line.trim() === '') {
      flush();
      if (end === text.length) break;
      continue;
    }
    const c = line.charCodeAt(0);
    if (c === 32 || c === 9) {
      // A continuation of one of our fields makes it multi-line: no value.
      if (last === 'package' || last === 'priority' || last === 'section') bad = true;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon < 0) {
      last = '';
      continue;
    }
    last = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (last === 'package') name === undefined ? (name = value) : (bad = true);
    else if (last === 'priority') priority === undefined ? (priority = value) : (bad = true);
    else if (last === 'section') section === undefined ? (section = value) : (bad = true);
  }
  flush();
  return into;
}

/** The override file text: one `package priority section` line per package, sorted. */
export function renderOverrides(map: OverrideMap): string {
  const names = [...map.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return names.map((n) => `${n} ${map.get(n)}\n`).join('');
}

/**
 * The lists a suite's overrides come from, in order of precedence: its own, then the release's;
 * only lists of the family's own upstream sources (`own`), never an extra repository's (whose
 * `optional` would otherwise beat Debian's `required` for a package both carry).
 */
export function overrideSources(lists: readonly VerifiedList[], suite: string): VerifiedList[] {
  const release = familyOf(suite);
  const own = lists.filter((l) => l.own === true);
  return [...own.filter((l) => l.suite === suite), ...(suite === release ? [] : own.filter((l) => l.suite === release))];
}

/** Parsed lists by path, reused while size, mtime and inode are unchanged (the daemon publishes often). */
const parsed = new Map<string, { stamp: string; map: OverrideMap }>();

async function stampOf(path: string): Promise<string | undefined> {
  const st = await fsp.stat(path).catch(() => undefined);
  return st ? `${st.size}:${st.mtimeMs}:${st.ino}` : undefined;
}

export function overridePath(layout: MirrorLayout, suite: string): string {
  return join(layout.state, 'overrides', suite);
}

/**
 * The apt-ftparchive binary override file of a suite, made again only when a
 * list it comes from changed; undefined when no verified list speaks for the
 * suite or its release (then every package keeps its control file's values).
 * A list that cannot be read is reported through warn and left out.
 */
export async function suiteOverrides(sh: Shell, layout: MirrorLayout, suite: string, warn?: (message: string) => void): Promise<string | undefined> {
  assertCodename(suite);
  const sources = overrideSources(await newestByName(await warmLists(layout, suite)), suite);
  if (!sources.length) return undefined;
  const stamps: string[] = [];
  for (const s of sources) stamps.push(`${(await stampOf(s.path)) ?? 'gone'} ${s.path}`);
  const file = overridePath(layout, suite);
  const stampFile = `${file}.stamps`;
  const wanted = `${stamps.join('\n')}\n`;
  const [had, present] = await Promise.all([fsp.readFile(stampFile, 'utf8').catch(() => ''), fsp.stat(file).then((st) => st.isFile(), () => false)]);
  // A dry run plans the publish: it neither parses the lists nor writes (the path names the plan's file).
  if ((had === wanted && present) || sh.dryRun) return file;
  const merged: OverrideMap = new Map();
  let failed = false;
  for (const [i, s] of sources.entries()) {
    const stamp = stamps[i]?.split(' ')[0] ?? 'gone';
    try {
      let entry = parsed.get(s.path);
      if (entry?.stamp !== stamp) {
        entry = { stamp, map: parseOverrides(await readPackagesFile(sh, s.path)) };
        parsed.set(s.path, entry);
      }
      for (const [name, value] of entry.map) if (!merged.has(name)) merged.set(name, value);
    } catch (err) {
      failed = true;
      warn?.(`${s.path}: cannot read a verified package list for Priority and Section (${err instanceof Error ? err.message : String(err)}); skipped`);
    }
  }
  await sh.mkdir(join(layout.state, 'overrides'));
  // The override file first, its stamps last: a crash between them only makes it again
  // (as does a list that could not be read: no stamps, so the next publish tries it again).
  await sh.writeFile(file, renderOverrides(merged));
  await sh.writeFile(stampFile, failed ? '' : wanted);
  return file;
}

/**
 * The suite's override lines for its members only, written to `outDir`
 * (the publisher's staging dir) for apt-ftparchive; undefined when no
 * verified list speaks for the suite (every package keeps its control values).
 */
export async function stagedOverrides(sh: Shell, layout: MirrorLayout, suite: string, members: readonly string[], outDir: string, warn?: (message: string) => void): Promise<string | undefined> {
  const full = await suiteOverrides(sh, layout, suite, warn);
  if (full === undefined) return undefined;
  const staged = join(outDir, 'override');
  if (sh.dryRun) return staged;
  // A pool file is named <package>_<version>_<arch>.deb (layout.ts poolRelativePath).
  const names = new Set(members.map((m) => basename(m).split('_')[0] ?? ''));
  const text = await fsp.readFile(full, 'utf8').catch(() => '');
  // One pass over the sorted file, picking the members' lines (no map of the whole upstream).
  const picked: string[] = [];
  for (let pos = 0; pos < text.length; ) {
    let end = text.indexOf('\n', pos);
    if (end < 0) end = text.length;
    const space = text.indexOf(' ', pos);
    if (space > pos && space < end && names.has(text.slice(pos, space))) picked.push(text.slice(pos, end));
    pos = end + 1;
  }
  await scratchFile({ sh }, staged, picked.length ? `${picked.join('\n')}\n` : '');
  return staged;
}
