/**
 * Publication records (<stateDir>/mirror/publications/<codename>/) and the
 * pruning of by-hash files no kept record references.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { exists } from '../shell.js';
import type { MirrorContext } from './context.js';
import { settleAll } from './settle.js';
import { mirrorLayout } from './layout.js';
import { clearsignedText, parseRelease } from './release.js';

/** Publications always kept, whatever their age: a client may still be reading one. */
const KEEP_RECENT = 5;

/** Sortable record name for a time, without colons: 2026-11-29T015254.123Z */
export function recordStamp(d: Date): string {
  return d.toISOString().replace(/:/g, '');
}

/** The time of a record file name, or undefined if it is not one of ours. */
export function recordTime(name: string): number | undefined {
  const m = /^(\d{4}-\d{2}-\d{2}T)(\d{2})(\d{2})(\d{2}\.\d{3}Z)(-\d+)?\.(InRelease|files)$/.exec(name);
  return m ? Date.parse(`${m[1]}${m[2]}:${m[3]}:${m[4]}`) : undefined;
}

/**
 * <stateDir>/mirror/publications/<codename>/<stamp>.files (the pool paths
 * the publication references; gc keeps them for graceHours) and
 * <stamp>.InRelease (its by-hash references; pruneSuite keeps those).
 * Written before InRelease goes live: a record of a publication that never
 * went live is harmless, a live one without a record is not.
 */
export async function recordPublication(ctx: MirrorContext, codename: string, inRelease: Buffer, files: string[]): Promise<void> {
  const dir = join(mirrorLayout(ctx.config).publications, codename);
  const base = recordStamp(new Date());
  let stamp = base;
  for (let n = 1; await exists(join(dir, `${stamp}.InRelease`)); n++) stamp = `${base}-${n}`;
  const unique = [...new Set(files)].sort();
  await settleAll([
    ctx.sh.writeFile(join(dir, `${stamp}.files`), unique.length ? `${unique.join('\n')}\n` : ''),
    ctx.sh.writeFile(join(dir, `${stamp}.InRelease`), inRelease),
  ]);
}

/**
 * Drops publication records older than graceHours (keeping the newest
 * KEEP_RECENT), then every by-hash file no kept record references.
 */
export async function pruneSuite(ctx: MirrorContext, codename: string, suiteDir: string, archs: string[]): Promise<void> {
  const dir = join(mirrorLayout(ctx.config).publications, codename);
  const cutoff = Date.now() - ctx.config.mirror.graceHours * 3_600_000;
  const names = await fsp.readdir(dir);
  // Temp files of a writer killed mid-write (writeFileAtomic names them .<name>.<random>.tmp).
  for (const name of names.filter((n) => n.startsWith('.') && n.endsWith('.tmp'))) await ctx.sh.remove(join(dir, name));
  const records = names.filter((n) => n.endsWith('.InRelease') && recordTime(n) !== undefined).sort();
  const referenced = new Set<string>();
  const kept: string[] = [];
  for (const [i, name] of records.entries()) {
    const stamp = name.slice(0, -'.InRelease'.length);
    if (i < records.length - KEEP_RECENT && (recordTime(name) ?? 0) < cutoff) {
      await ctx.sh.remove(join(dir, `${stamp}.files`));
      await ctx.sh.remove(join(dir, name));
    } else kept.push(name);
  }
  // Every record within the grace period is read on every publish: at once, not one by one.
  for (const text of await settleAll(kept.map((name) => fsp.readFile(join(dir, name), 'utf8')))) {
    const rel = parseRelease(clearsignedText(text));
    for (const e of [...rel.sha256, ...rel.sha512]) referenced.add(e.hash);
  }
  for (const arch of archs) {
    for (const algo of ['SHA256', 'SHA512']) {
      const hashDir = join(suiteDir, 'main', `binary-${arch}`, 'by-hash', algo);
      if (!(await exists(hashDir))) continue;
      for (const name of await fsp.readdir(hashDir)) {
        if (!referenced.has(name)) await ctx.sh.remove(join(hashDir, name));
      }
    }
  }
}
