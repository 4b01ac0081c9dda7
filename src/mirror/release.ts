/**
 * Release files: built here in TypeScript (hashing the index files ourselves)
 * rather than with `apt-ftparchive release`, which would happily index its
 * own output or stray files in the suite directory. Also the small deb822
 * parsers that verify and status share. Pure except hashFile.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { suiteKind } from '../config/suite-family.js';

/** An index file of a suite, with its path relative to dists/<codename>. */
export interface IndexFile {
  path: string;
  size: number;
  sha256: string;
  sha512: string;
}

export interface ReleaseFields {
  origin: string;
  label: string;
  suite: string;
  codename: string;
  date: Date;
  validUntil: Date;
  architectures: string[];
  components: string[];
  description: string;
  files: IndexFile[];
}

const DAY_MS = 86_400_000;

/** RFC 2822 date in UTC, the form Debian's Release files use ("Sat, 29 Nov 2026 01:52:54 UTC"). */
export function formatReleaseDate(d: Date): string {
  return d.toUTCString().replace(/GMT$/, 'UTC');
}

/** Parses a Release date (RFC 2822 with "UTC", "GMT" or a numeric zone); undefined if unreadable. */
export function parseReleaseDate(text: string): Date | undefined {
  const t = Date.parse(text.trim().replace(/ UTC$/, ' GMT'));
  return Number.isNaN(t) ? undefined : new Date(t);
}

/**
 * A suite's Description: `nspawn-kit local mirror of bookworm`, and for an
 * update suite what it carries (`... of bookworm-security (security updates of bookworm)`).
 */
export function describeSuite(origin: string, suite: string): string {
  const { codename, kind } = suiteKind(suite);
  const what = kind === 'security' ? ` (security updates of ${codename})` : kind === 'updates' ? ` (stable updates of ${codename})` : '';
  return `${origin} local mirror of ${suite}${what}`;
}

/** The fields of a suite's Release, from the configuration and the hashed index files; Suite and Codename are the suite's name (as Debian's bookworm-security says Codename: bookworm-security). */
export function releaseFieldsFor(
  mirror: { origin: string; validDays: number; architectures: string[] },
  codename: string,
  files: IndexFile[],
  now: Date,
): ReleaseFields {
  return {
    origin: mirror.origin,
    label: mirror.origin,
    suite: codename,
    codename,
    // Whole seconds: the text form has no fractions, and verify compares dates.
    date: new Date(Math.floor(now.getTime() / 1000) * 1000),
    validUntil: new Date(Math.floor(now.getTime() / 1000) * 1000 + mirror.validDays * DAY_MS),
    architectures: [...mirror.architectures],
    components: ['main'],
    description: describeSuite(mirror.origin, codename),
    files,
  };
}

/** A one-line field value: a newline in config data must not inject fields. */
function oneLine(value: string): string {
  return value.replace(/[\r\n]+/g, ' ').trim();
}

export function buildRelease(f: ReleaseFields): string {
  // Code-point order: localeCompare would cost ~13 ms of ICU start-up on every publish, for nothing.
  const files = [...f.files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const width = Math.max(1, ...files.map((x) => String(x.size).length));
  const section = (name: string, pick: (x: IndexFile) => string) => [
    `${name}:`,
    ...files.map((x) => ` ${pick(x)} ${String(x.size).padStart(width)} ${x.path}`),
  ];
  return [
    `Origin: ${oneLine(f.origin)}`,
    `Label: ${oneLine(f.label)}`,
    `Suite: ${oneLine(f.suite)}`,
    `Codename: ${oneLine(f.codename)}`,
    `Date: ${formatReleaseDate(f.date)}`,
    `Valid-Until: ${formatReleaseDate(f.validUntil)}`,
    `Architectures: ${f.architectures.join(' ')}`,
    `Components: ${f.components.join(' ')}`,
    `Description: ${oneLine(f.description)}`,
    'Acquire-By-Hash: yes',
    ...section('SHA256', (x) => x.sha256),
    ...section('SHA512', (x) => x.sha512),
    '',
  ].join('\n');
}

/** One deb822 paragraph: field name -> value (continuation lines joined with "\n"). */
export type Stanza = Record<string, string>;

/** Parses deb822 text (Packages, Release) into paragraphs. Field names are kept as written. */
export function parseStanzas(text: string): Stanza[] {
  const out: Stanza[] = [];
  let cur: Stanza = {};
  let last: string | undefined;
  const flush = () => {
    if (Object.keys(cur).length) out.push(cur);
    cur = {};
    last = undefined;
  };
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      flush();
    } else if ((line.startsWith(' ') || line.startsWith('\t')) && last !== undefined) {
      cur[last] = `${cur[last] ?? ''}\n${line.slice(1)}`;
    } else {
      const m = /^([^:\s]+):\s?(.*)$/.exec(line);
      if (m && m[1] !== undefined) {
        last = m[1];
        cur[last] = m[2] ?? '';
      }
    }
  }
  flush();
  return out;
}

export interface ParsedRelease {
  fields: Stanza;
  sha256: Array<{ hash: string; size: number; path: string }>;
  sha512: Array<{ hash: string; size: number; path: string }>;
  validUntil: Date | undefined;
  date: Date | undefined;
}

function hashSection(value: string | undefined): Array<{ hash: string; size: number; path: string }> {
  if (!value) return [];
  return value
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((p): p is [string, string, string] => p.length === 3)
    .map(([hash, size, path]) => ({ hash: hash.toLowerCase(), size: Number(size), path }));
}

export function parseRelease(text: string): ParsedRelease {
  const fields = parseStanzas(text)[0] ?? {};
  return {
    fields,
    sha256: hashSection(fields['SHA256']),
    sha512: hashSection(fields['SHA512']),
    validUntil: fields['Valid-Until'] ? parseReleaseDate(fields['Valid-Until']) : undefined,
    date: fields['Date'] ? parseReleaseDate(fields['Date']) : undefined,
  };
}

/**
 * The signed text of a clearsigned message, WITHOUT checking the signature
 * (for status and for reading our own publication records; verify uses gpgv).
 */
export function clearsignedText(armored: string): string {
  const lines = armored.split('\n');
  const start = lines.findIndex((l) => l.startsWith('-----BEGIN PGP SIGNED MESSAGE-----'));
  if (start < 0) return armored;
  let i = start + 1;
  while (i < lines.length && lines[i]?.trim() !== '') i++; // armor headers (Hash: ...)
  const end = lines.findIndex((l, n) => n > i && l.startsWith('-----BEGIN PGP SIGNATURE-----'));
  const body = lines.slice(i + 1, end < 0 ? undefined : end);
  // Dash-escaping (RFC 4880 7.1) and the line ending before the signature are not part of the text.
  return `${body.map((l) => (l.startsWith('- ') ? l.slice(2) : l)).join('\n').replace(/\n$/, '')}\n`;
}

/** by-hash paths (relative to dists/<codename>) under which an index file is also published. */
export function byHashPaths(file: IndexFile): string[] {
  const dir = file.path.includes('/') ? file.path.slice(0, file.path.lastIndexOf('/')) : '.';
  return [`${dir}/by-hash/SHA256/${file.sha256}`, `${dir}/by-hash/SHA512/${file.sha512}`];
}

export function hashBuffer(path: string, data: Buffer): IndexFile {
  return {
    path,
    size: data.length,
    sha256: createHash('sha256').update(data).digest('hex'),
    sha512: createHash('sha512').update(data).digest('hex'),
  };
}

/** Size, SHA256 and SHA512 of a file, streamed (pool files can be large). */
export async function hashFile(file: string, relPath = file): Promise<IndexFile> {
  const h256 = createHash('sha256');
  const h512 = createHash('sha512');
  let size = 0;
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
    h256.update(chunk);
    h512.update(chunk);
    size += chunk.length;
  }
  return { path: relPath, size, sha256: h256.digest('hex'), sha512: h512.digest('hex') };
}
