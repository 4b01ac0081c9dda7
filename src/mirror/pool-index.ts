/**
 * The pool index (<stateDir>/mirror/pool-index.json): what the importer
 * validated for each pool file (control facts, size, SHA256, mtime). Not a
 * cache: publish signs an index entry only if it matches this record
 * (index-check.ts), verify checks the same, gc orders versions by it and warm
 * finds a .deb by its SHA256. So it is parsed with a schema: a record that is
 * not exactly what we write is refused, never trusted in part; a missing one
 * is an empty one (every pool file is then validated again).
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { OperationError } from '../errors.js';
import { shellQuote } from '../quote.js';
import type { Shell } from '../shell.js';
import { formatIssues } from '../config/issues.js';
import { ARCHITECTURE, DEB_VERSION, PACKAGE_NAME, type DebPackage } from './deb.js';
import type { MirrorLayout } from './layout.js';

/** A pool-relative .deb path ("pool/main/h/hello/hello_1.0_amd64.deb"): no empty, "." or ".." part, no control character. */
export const POOL_FILE = /^pool(?:\/(?!\.\.?(?:\/|$))[^/\x00-\x1f\x7f]+)+$/;

const debName = (what: string) => z.string().regex(PACKAGE_NAME, { message: `expected a Debian ${what} name` });

export const PoolIndexEntrySchema = z.object({
  name: debName('package'),
  version: z.string().regex(DEB_VERSION, { message: 'expected a Debian version' }),
  architecture: z.string().regex(ARCHITECTURE, { message: 'expected a Debian architecture' }),
  source: debName('source package'),
  size: z.number().int().min(0),
  /** '' when recorded by gc from the control fields alone (no hash: never trusted by publish). */
  sha256: z.string().regex(/^(?:[0-9a-f]{64})?$/, { message: 'expected a sha256 (64 lowercase hex digits) or ""' }),
  /** mtime of the pool file when the entry was written: a changed file is re-hashed. */
  mtimeMs: z.number().finite().min(0),
}) satisfies z.ZodType<DebPackage & { mtimeMs: number }>;

export const PoolIndexSchema = z.object({
  version: z.literal(1),
  files: z.record(z.string().regex(POOL_FILE, { message: 'expected a pool-relative .deb path ("pool/...")' }).refine((k) => k.endsWith('.deb'), { message: 'expected a .deb path' }), PoolIndexEntrySchema),
});

export type PoolIndexEntry = z.output<typeof PoolIndexEntrySchema>;
export type PoolIndex = z.output<typeof PoolIndexSchema>;

/**
 * Parses the text of a pool index: the record, or the problems (at most a
 * few, "where: what was expected"), each naming the file.
 */
export function parsePoolIndex(text: string, file: string): { ok: true; index: PoolIndex } | { ok: false; problems: string[] } {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    return { ok: false, problems: [`${file}: not JSON (${(err as Error).message})`] };
  }
  const parsed = PoolIndexSchema.safeParse(data);
  if (parsed.success) return { ok: true, index: parsed.data };
  const problems = formatIssues(file, PoolIndexSchema, data, parsed.error.issues);
  return { ok: false, problems: problems.length > 5 ? [...problems.slice(0, 5), `... and ${problems.length - 5} more`] : problems };
}

/**
 * What the importer validated for each pool file. Not a cache: publish signs
 * an index entry only if it matches this record, and re-validates a file that
 * has none (so it lives beside the suite lists, not under cache/).
 */
export function poolIndexPath(layout: MirrorLayout): string {
  return join(layout.state, 'pool-index.json');
}

/** Where older versions kept it; read once when the new file is missing. */
const legacyPoolIndexPath = (layout: MirrorLayout): string => join(layout.cache, 'pool-index.json');

/**
 * The pool index; empty when there is none (here or where older versions
 * kept it). A record that cannot be read or is not valid stops the caller:
 * nothing it says is believed, and nothing is written over it.
 */
export async function loadPoolIndex(layout: MirrorLayout): Promise<PoolIndex> {
  for (const path of [poolIndexPath(layout), legacyPoolIndexPath(layout)]) {
    let text: string;
    try {
      text = await fsp.readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw corrupt(path, [`${path}: cannot be read (${(err as Error).message})`]);
    }
    const parsed = parsePoolIndex(text, path);
    if (!parsed.ok) throw corrupt(path, parsed.problems);
    return parsed.index;
  }
  return { version: 1, files: {} };
}

function corrupt(path: string, problems: string[]): OperationError {
  return new OperationError(
    `the pool index ${path} (what the importer validated, which publish signs against) is not valid; nothing in it is trusted, nothing was changed:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    `Move it aside (\`mv -- ${shellQuote(path)} ${shellQuote(`${path}.bad`)}\`) and run again: without it every pool file is validated again (dpkg-deb, SHA256) and a new record is written.`,
  );
}

export async function savePoolIndex(sh: Shell, layout: MirrorLayout, index: PoolIndex): Promise<void> {
  const sorted: PoolIndex = { version: 1, files: {} };
  for (const key of Object.keys(index.files).sort()) {
    const entry = index.files[key];
    if (entry) sorted.files[key] = entry;
  }
  await sh.writeFile(poolIndexPath(layout), `${JSON.stringify(sorted)}\n`);
}

/** Records a pool file's facts (after ingest or first sight). */
export async function recordInIndex(index: PoolIndex, layout: MirrorLayout, rel: string, pkg: DebPackage): Promise<void> {
  try {
    const st = await fsp.stat(join(layout.root, rel));
    index.files[rel] = { ...pkg, mtimeMs: st.mtimeMs };
  } catch {
    // dry-run: the file is not there; nothing to record
  }
}
