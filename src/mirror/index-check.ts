/**
 * The index never disagrees with the pool: before anything is signed, every
 * Packages stanza must name its pool file exactly as nspawn-kit validated it
 * (Package, Version, Architecture, Filename, Size, SHA256), and carry none of
 * the fields only the index may set that apt-ftparchive copies from a control
 * file (SHA1, SHA512, Description-md5: we do not compute them).
 *
 * "As validated": the pool index entry the importer wrote for the bytes the
 * index lists; any other pool file (put there by hand, recorded by gc
 * without a hash, changed since) is validated now, in full (ar layout,
 * dpkg-deb, SHA256).
 */
import { join } from 'node:path';
import type { MirrorContext } from './context.js';
import { inspectDebs, printable, type DebPackage } from './deb.js';
import type { MirrorLayout } from './layout.js';
import { recordInIndex, type PoolIndex } from './pool.js';
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

/**
 * What nspawn-kit validated each pool file as, given the SHA256 the index
 * lists for it: the pool index entry of those very bytes (the importer's
 * verdict; apt-ftparchive with AlwaysStat re-reads a changed file, so equal
 * hashes mean the bytes validated are the bytes indexed), else a full
 * inspection of the pool file now, in one batch.
 */
export async function validatedFiles(
  ctx: MirrorContext,
  layout: MirrorLayout,
  index: PoolIndex,
  indexed: Map<string, string>,
  recorded: { count: number } = { count: 0 },
): Promise<Map<string, Validated>> {
  const out = new Map<string, Validated>();
  const recheck: string[] = [];
  for (const [rel, sha256] of indexed) {
    const known = index.files[rel];
    if (known?.sha256 && known.sha256 === sha256.toLowerCase()) out.set(rel, { ok: true, pkg: known });
    else recheck.push(rel);
  }
  for (const [rel, v] of await inspectPoolFiles(ctx, layout, recheck)) {
    out.set(rel, v);
    // Validated now: recorded, so the next publish does not inspect it again.
    if (v.ok) {
      await recordInIndex(index, layout, rel, v.pkg);
      recorded.count++;
    }
  }
  return out;
}

/** Full inspection of pool files (pool-relative paths), a few hundred per shell (argv stays small). */
export async function inspectPoolFiles(ctx: MirrorContext, layout: MirrorLayout, rels: string[]): Promise<Map<string, Validated>> {
  const out = new Map<string, Validated>();
  for (let from = 0; from < rels.length; from += 256) {
    const part = rels.slice(from, from + 256);
    const res = await inspectDebs(ctx.sh, part.map((rel) => join(layout.root, rel)), { architectures: ctx.config.mirror.architectures, signal: ctx.signal });
    for (const [i, rel] of part.entries()) out.set(rel, res[i] ?? { ok: false, reason: 'not inspected' });
  }
  return out;
}

/** The fields the check reads, by their lower-case name (apt reads field names case-insensitively). */
const CHECKED_FIELDS = new Map(['Package', 'Version', 'Architecture', 'Filename', 'Size', 'SHA256', ...FOREIGN_FIELDS].map((f) => [f.toLowerCase(), f]));
/** Set on a stanza that names one of the checked fields twice (apt would read one of them). */
const DUPLICATE = '\0duplicate';

/**
 * The checked fields of every stanza of a Packages text, names canonical:
 * a lean pass over the lines (a 20,000-package index is read on every publish).
 */
export function indexStanzas(text: string): Stanza[] {
  const out: Stanza[] = [];
  let cur: Stanza = {};
  let open = false;
  for (let pos = 0; pos < text.length; ) {
    let end = text.indexOf('\n', pos);
    if (end < 0) end = text.length;
    const c = text.charCodeAt(pos);
    if (end === pos || ((c === 32 || c === 9) && text.slice(pos, end).trim() === '')) {
      if (open) out.push(cur);
      cur = {};
      open = false;
    } else if (c !== 32 && c !== 9) {
      open = true;
      const colon = text.indexOf(':', pos);
      const name = colon > pos && colon < end ? CHECKED_FIELDS.get(text.slice(pos, colon).toLowerCase()) : undefined;
      if (name) {
        if (cur[name] !== undefined) cur[DUPLICATE] = name;
        cur[name] = text.slice(colon + 1, end).trim();
      }
    }
    pos = end + 1;
  }
  if (open) out.push(cur);
  return out;
}

const describe = (p: { name: string; version: string; architecture: string; size: number | string; sha256: string }): string =>
  printable(`${p.name} ${p.version} ${p.architecture} (${p.size} bytes, sha256 ${p.sha256.slice(0, 16)}…)`);

/** Why this stanza may not be published, or undefined when it names its file as validated. */
export function stanzaDisagreement(s: Stanza, validated: Validated | undefined): string | undefined {
  if (!validated) return 'not a file of this suite';
  if (!validated.ok) return validated.reason;
  if (s[DUPLICATE]) return `the index entry has the field ${s[DUPLICATE]} twice`;
  const v = validated.pkg;
  const indexed = { name: s['Package'] ?? '?', version: s['Version'] ?? '?', architecture: s['Architecture'] ?? '?', size: s['Size'] ?? '?', sha256: (s['SHA256'] ?? '?').toLowerCase() };
  const same = indexed.name === v.name && indexed.version === v.version && indexed.architecture === v.architecture && indexed.size === String(v.size) && indexed.sha256 === v.sha256;
  if (!same) return `the index names it ${describe(indexed)}, nspawn-kit validated it as ${describe(v)}`;
  const foreign = FOREIGN_FIELDS.filter((f) => s[f] !== undefined);
  if (foreign.length) return `the index entry carries ${foreign.join(', ')} taken from the .deb's control file`;
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

