/**
 * The index never disagrees with the pool: before anything is signed, every
 * Packages stanza must name its pool file exactly as nspawn-kit validated it
 * (Package, Version, Architecture, Filename, Size, SHA256), and carry none of
 * the fields only the index may set that apt-ftparchive copies from a control
 * file (SHA1, SHA512, Description-md5: we do not compute them).
 *
 * "As validated": the pool index entry the importer wrote, while the file
 * still has the size and mtime it had then; any other pool file (put there
 * by hand, recorded by gc without a hash, changed since) is validated now,
 * in full (ar layout, dpkg-deb, SHA256).
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { mapLimit } from './archive-scan.js';
import type { MirrorContext } from './context.js';
import { inspectDebs, printable, type DebPackage } from './deb.js';
import { poolRelativePath, type MirrorLayout } from './layout.js';
import type { PoolIndex } from './pool.js';
import type { Stanza } from './release.js';

export type Validated = { ok: true; pkg: DebPackage } | { ok: false; reason: string };

/** A pool file the index must not publish, and why (both identities named). */
export interface Disagreement {
  /** Pool-relative path. */
  file: string;
  reason: string;
}

/** Fields apt-ftparchive copies from a control file when it does not compute them itself. */
const FOREIGN_FIELDS = ['SHA1', 'SHA512', 'Description-md5'];

/** What nspawn-kit validated for each pool file (pool-relative paths). */
export async function validatedFiles(ctx: MirrorContext, layout: MirrorLayout, index: PoolIndex, files: Iterable<string>): Promise<Map<string, Validated>> {
  const out = new Map<string, Validated>();
  const recheck: string[] = [];
  const rels = [...new Set(files)];
  // A suite of 20,000 files: the lstats at once (bounded), not one after another.
  const stats = await mapLimit(rels, 64, (rel) => fsp.lstat(join(layout.root, rel)).catch(() => undefined));
  for (const [i, rel] of rels.entries()) {
    const st = stats[i];
    const known = index.files[rel];
    if (!st) out.set(rel, { ok: false, reason: 'missing from the pool' });
    else if (!st.isFile()) out.set(rel, { ok: false, reason: 'not a regular file in the pool' });
    else if (known?.sha256 && known.size === st.size && known.mtimeMs === st.mtimeMs) out.set(rel, { ok: true, pkg: known });
    else recheck.push(rel);
  }
  if (recheck.length) {
    const res = await inspectDebs(ctx.sh, recheck.map((rel) => join(layout.root, rel)), { architectures: ctx.config.mirror.architectures, signal: ctx.signal });
    for (const [i, rel] of recheck.entries()) out.set(rel, res[i] ?? { ok: false, reason: 'not inspected' });
  }
  return out;
}

const describe = (p: { name: string; version: string; architecture: string; size: number | string; sha256: string }): string =>
  printable(`${p.name} ${p.version} ${p.architecture} (${p.size} bytes, sha256 ${p.sha256.slice(0, 16)}…)`);

/** Why this stanza may not be published, or undefined when it names its file as validated. */
export function stanzaDisagreement(s: Stanza, validated: Validated | undefined): string | undefined {
  if (!validated) return 'not a file of this suite';
  if (!validated.ok) return validated.reason;
  const v = validated.pkg;
  const indexed = { name: s['Package'] ?? '?', version: s['Version'] ?? '?', architecture: s['Architecture'] ?? '?', size: s['Size'] ?? '?', sha256: (s['SHA256'] ?? '?').toLowerCase() };
  const same = indexed.name === v.name && indexed.version === v.version && indexed.architecture === v.architecture && indexed.size === String(v.size) && indexed.sha256 === v.sha256;
  if (!same) return `the index names it ${describe(indexed)}, nspawn-kit validated it as ${describe(v)}`;
  const foreign = FOREIGN_FIELDS.filter((f) => s[f] !== undefined);
  if (foreign.length) return `the index entry carries ${foreign.join(', ')} taken from the .deb's control file`;
  const home = poolRelativePath(v);
  if (home !== s['Filename']) return `validated as ${describe(v)}, whose pool path is ${home}`;
  return undefined;
}

/** Every stanza checked against the validated files; one disagreement per file. */
export function checkStanzas(stanzas: Stanza[], validated: Map<string, Validated>): Disagreement[] {
  const found = new Map<string, string>();
  for (const s of stanzas) {
    const file = s['Filename'] ?? '';
    const why = stanzaDisagreement(s, validated.get(file));
    if (why && !found.has(file)) found.set(file, why);
  }
  return [...found].map(([file, reason]) => ({ file, reason }));
}

