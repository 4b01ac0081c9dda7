/**
 * The importer's private state: the quarantine list (bad files by name,
 * read by `status`) and the cache of files already processed, keyed by
 * path and codename, valid while size, mtime and inode are unchanged.
 * Plus the import report and its human rendering.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { escapeText, neutralizeBlock, neutralizeLine, safe } from '../escape.js';
import type { Shell } from '../shell.js';
import { mapLimit } from './archive-scan.js';
import type { MirrorLayout } from './layout.js';

export interface QuarantineEntry {
  file: string;
  reason: string;
  /** ISO time the file was found bad. */
  time: string;
}

export async function loadQuarantine(layout: MirrorLayout): Promise<QuarantineEntry[]> {
  try {
    const data: unknown = JSON.parse(await fsp.readFile(layout.quarantine, 'utf8'));
    return Array.isArray(data) ? (data as QuarantineEntry[]).filter((q) => q && typeof q.file === 'string') : [];
  } catch {
    return [];
  }
}

/** Writes the list (sorted by file) when it differs from what was loaded. */
export async function saveQuarantine(sh: Shell, layout: MirrorLayout, before: QuarantineEntry[], after: QuarantineEntry[]): Promise<void> {
  const sorted = [...after].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  const text = `${JSON.stringify(sorted, null, 2)}\n`;
  const old = `${JSON.stringify([...before].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0)), null, 2)}\n`;
  if (text === old) return;
  await sh.writeFile(layout.quarantine, text);
}

export interface ImportCacheEntry {
  size: number;
  mtimeMs: number;
  ino: number;
  /** Pool-relative path the file was imported as. */
  pool?: string;
  /** Why the file was rejected. */
  rejected?: string;
}

export interface ImportCache {
  version: 1;
  entries: Record<string, ImportCacheEntry>;
}

export function cacheKey(path: string, codename: string): string {
  return `${codename}\t${path}`;
}

function cachePath(layout: MirrorLayout): string {
  return join(layout.cache, 'import.json');
}

/** The file's text as loaded is remembered by digest only: with many entries it is megabytes. */
const digest = (text: string): string => createHash('sha256').update(text).digest('hex');

export async function loadImportCache(layout: MirrorLayout): Promise<ImportCache & { loaded: string }> {
  try {
    const text = await fsp.readFile(cachePath(layout), 'utf8');
    const data = JSON.parse(text) as ImportCache;
    if (data && data.version === 1 && typeof data.entries === 'object') return { version: 1, entries: data.entries, loaded: digest(text) };
  } catch {
    // missing or unreadable: start empty
  }
  return { version: 1, entries: {}, loaded: '' };
}

/** Drops entries of files that no longer exist, then writes if anything changed. */
export async function saveImportCache(sh: Shell, layout: MirrorLayout, cache: ImportCache & { loaded: string }): Promise<void> {
  const keys = Object.keys(cache.entries).sort();
  const exists = await mapLimit(keys, 64, (key) => fsp.lstat(key.slice(key.indexOf('\t') + 1)).then(() => true, () => false));
  const entries: Record<string, ImportCacheEntry> = {};
  for (const [i, key] of keys.entries()) {
    const entry = cache.entries[key];
    if (entry && exists[i]) entries[key] = entry;
  }
  const text = `${JSON.stringify({ version: 1, entries })}\n`;
  if (digest(text) === cache.loaded) return;
  await sh.writeFile(cachePath(layout), text);
}

// ---- the report of one import ----

export interface ImportedFile {
  file: string;
  /** The codename it came with (the archive's configured suite, or the machine's codename). */
  codename: string;
  /** The suites it was filed under: the configured one, or for a machine's file those whose verified lists name its bytes. */
  suites: string[];
  pool: string;
  package: string;
  version: string;
  architecture: string;
}

export interface ImportReport {
  dryRun: boolean;
  /** Newly copied into the pool. */
  imported: ImportedFile[];
  /** Identical bytes already in the pool (still recorded in the suite). */
  alreadyPresent: ImportedFile[];
  /** Same name/version/arch, different bytes: the pool copy was kept. */
  conflicts: { file: string; codename: string; pool: string; reason: string }[];
  /** Bad files, by name, with the reason; quarantined, never in a suite. */
  rejected: { file: string; reason: string }[];
  /** Valid files the apt-move backend did not take (not in the host's package lists). */
  skipped: { file: string; reason: string }[];
  /** Files skipped because they were processed before with the same size and mtime. */
  unchanged: number;
  /** New suite entries per codename. */
  addedToSuites: Record<string, number>;
  /** Temp files of killed imports that were cleaned up. */
  cleanedTemps: string[];
  /** Things worth saying that are not about one bad file (missing directories, vanished files). */
  warnings: string[];
}

export function emptyReport(dryRun: boolean): ImportReport {
  return { dryRun, imported: [], alreadyPresent: [], conflicts: [], rejected: [], skipped: [], unchanged: 0, addedToSuites: {}, cleanedTemps: [], warnings: [] };
}

export function summarizeImport(r: ImportReport): string {
  const parts = [
    `${r.imported.length} imported`,
    `${r.alreadyPresent.length} already present`,
    `${r.unchanged} unchanged`,
    `${r.conflicts.length} conflict(s)`,
    `${r.rejected.length} rejected`,
    ...(r.skipped.length ? [`${r.skipped.length} skipped by apt-move`] : []),
  ];
  return `${r.dryRun ? '[dry-run] ' : ''}import: ${parts.join(', ')}`;
}

/**
 * Human lines for the CLI: the summary, then every problem by file name.
 * Names are untrusted values (a newline, an ESC): escaped, backslash and all,
 * so one problem starts one line. A reason is a message that quotes its values
 * already (dpkg's, or ours with JSON.stringify): neutralized line by line, and
 * a reason of several lines (dpkg's whole message) continues on indented lines.
 */
export function formatImportReport(r: ImportReport): string[] {
  return [
    summarizeImport(r),
    ...r.conflicts.flatMap((c) => withReason(safe`  conflict: ${c.file} -> ${c.pool}`, c.reason, c.file)),
    ...r.rejected.flatMap((x) => withReason(safe`  rejected: ${x.file}`, x.reason, x.file)),
    ...r.skipped.flatMap((x) => withReason(safe`  skipped: ${x.file}`, x.reason, x.file)),
    ...r.warnings.map((w) => `  warning: ${neutralizeLine(w)}`),
  ];
}

/**
 * "head: reason", or for a reason of several lines, each further line indented
 * under it. Where the reason quotes the file's name (dpkg does), the name is
 * escaped like the head's, so a newline in it does not break the reason either.
 */
export function withReason(head: string, reason: string, name?: string, indent = '      '): string[] {
  const text = reason.replace(/\s+$/, '');
  const parts = name ? text.split(name) : [text];
  const [first = '', ...rest] = parts.map(neutralizeBlock).join(name ? escapeText(name) : '').split('\n');
  return [`${head}: ${first}`, ...rest.map((l) => indent + l)];
}

/**
 * Adds files to the quarantine list (the publisher's finds: pool files that
 * could not be indexed or that the index would misname), replacing older
 * entries of the same file.
 */
export async function quarantineFiles(sh: Shell, layout: MirrorLayout, entries: Array<{ file: string; reason: string }>): Promise<void> {
  if (!entries.length) return;
  const before = await loadQuarantine(layout);
  const byFile = new Map(before.map((q) => [q.file, q]));
  const time = new Date().toISOString();
  for (const e of entries) byFile.set(e.file, { file: e.file, reason: e.reason, time });
  await saveQuarantine(sh, layout, before, [...byFile.values()]);
}
