/**
 * Retention: per suite, the newest `mirror.keep` versions of each package
 * (per architecture) stay listed; older entries leave the suite list. A pool
 * file is deleted only when no suite lists it and no publication a client
 * may still be reading references it: the live (newest) publication of each
 * suite, and every publication younger than `mirror.graceHours`.
 */
import { promises as fsp } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Shell } from '../shell.js';
import type { MirrorContext } from './context.js';
import { checkControlFields, compareVersions, parseControlFields } from './deb.js';
import { mirrorLayout, type MirrorLayout } from './layout.js';
import { cleanStaleTemps, loadPoolIndex, removeFiles, savePoolIndex, walkPool, type PoolIndex } from './pool.js';
import { recordTime } from './publications.js';
import { listSuites, readSuite, writeSuite } from './suites.js';

export interface GcOptions {
  /** Report what would go, change nothing (also implied by a dry-run Shell). */
  dryRun?: boolean;
  /** "Now", for tests of the grace period. */
  now?: Date;
}

export interface GcReport {
  dryRun: boolean;
  /** Suite entries beyond the newest `keep` versions. */
  removedFromSuites: { codename: string; pool: string; package: string; version: string; architecture: string }[];
  /** Pool files deleted (or that would be, in a dry run). */
  deleted: { pool: string; size: number }[];
  bytesFreed: number;
  /** Unlisted pool files kept because a live or recent publication references them. */
  keptForGrace: string[];
  /** Suite entries whose pool file is missing (left alone; `mirror verify` reports them too). */
  missing: { codename: string; pool: string }[];
  cleanedTemps: string[];
}

interface Member {
  pool: string;
  name: string;
  version: string;
  architecture: string;
}

/** Control facts of a pool file: the pool index, else `dpkg-deb --field` (recorded for next time). */
async function memberFacts(sh: Shell, layout: MirrorLayout, index: PoolIndex, rel: string): Promise<Member | 'missing' | undefined> {
  const path = join(layout.root, rel);
  const st = await fsp.stat(path).catch(() => undefined);
  if (!st) return 'missing';
  const known = index.files[rel];
  if (known) return { pool: rel, name: known.name, version: known.version, architecture: known.architecture };
  const out = await sh.read(['dpkg-deb', ['--field', '--', path, 'Package', 'Version', 'Architecture', 'Source']], { nothrow: true });
  if (out.exitCode !== 0) return undefined;
  const f = checkControlFields(parseControlFields(out.stdout));
  if (!f.ok) return undefined;
  index.files[rel] = { name: f.name, version: f.version, architecture: f.architecture, source: f.source, size: st.size, sha256: '', mtimeMs: st.mtimeMs };
  return { pool: rel, name: f.name, version: f.version, architecture: f.architecture };
}

/** Pure: the members beyond the newest `keep` versions of each name/architecture. */
export function selectSuperseded<T extends { name: string; version: string; architecture: string }>(members: T[], keep: number): T[] {
  const groups = new Map<string, T[]>();
  for (const m of members) {
    const key = `${m.name}\t${m.architecture}`;
    const g = groups.get(key);
    if (g) g.push(m);
    else groups.set(key, [m]);
  }
  const out: T[] = [];
  for (const g of groups.values()) {
    g.sort((a, b) => compareVersions(b.version, a.version));
    out.push(...g.slice(Math.max(1, keep)));
  }
  return out;
}

/** Pool files referenced by the newest publication of each suite and by every publication within the grace period. */
export async function protectedByPublications(layout: MirrorLayout, graceHours: number, now: Date): Promise<Set<string>> {
  const keep = new Set<string>();
  const cutoff = now.getTime() - graceHours * 3_600_000;
  const codenames = await fsp.readdir(layout.publications).catch(() => [] as string[]);
  for (const codename of codenames) {
    const dir = join(layout.publications, codename);
    const names = await fsp.readdir(dir).catch(() => [] as string[]);
    const records: { name: string; time: number }[] = [];
    for (const name of names.filter((n) => n.endsWith('.files'))) {
      const time = recordTime(name) ?? (await fsp.stat(join(dir, name)).then((s) => s.mtimeMs, () => 0));
      records.push({ name, time });
    }
    records.sort((a, b) => a.time - b.time || (a.name < b.name ? -1 : 1));
    const newest = records[records.length - 1];
    for (const r of records) {
      if (r !== newest && r.time < cutoff) continue;
      const text = await fsp.readFile(join(dir, r.name), 'utf8').catch(() => '');
      for (const line of text.split('\n')) if (line.trim()) keep.add(line.trim());
    }
  }
  return keep;
}

export async function gcMirror(ctx: MirrorContext, opts: GcOptions = {}): Promise<GcReport> {
  const dryRun = ctx.sh.dryRun || opts.dryRun === true;
  const sh = dryRun && !ctx.sh.dryRun ? new Shell({ dryRun: true, verbose: ctx.sh.verbose, log: ctx.sh.log }) : ctx.sh;
  const layout = mirrorLayout(ctx.config);
  const now = opts.now ?? new Date();
  const keep = ctx.config.mirror.keep;
  const index = await loadPoolIndex(layout);
  const indexSize = Object.keys(index.files).length;
  const report: GcReport = { dryRun, removedFromSuites: [], deleted: [], bytesFreed: 0, keptForGrace: [], missing: [], cleanedTemps: [] };

  // 1. Trim every suite list to the newest `keep` versions.
  const listed = new Set<string>();
  for (const codename of await listSuites(layout)) {
    ctx.signal?.throwIfAborted();
    const entries = await readSuite(layout, codename);
    const members: Member[] = [];
    const unknown: string[] = [];
    for (const rel of entries) {
      const facts = await memberFacts(sh, layout, index, rel);
      if (facts === 'missing') report.missing.push({ codename, pool: rel });
      else if (facts) members.push(facts);
      else unknown.push(rel);
    }
    const superseded = new Set(selectSuperseded(members, keep).map((m) => m.pool));
    for (const m of members.filter((x) => superseded.has(x.pool))) {
      report.removedFromSuites.push({ codename, pool: m.pool, package: m.name, version: m.version, architecture: m.architecture });
    }
    const remaining = entries.filter((e) => !superseded.has(e));
    if (superseded.size) {
      await writeSuite(sh, layout, codename, remaining);
      ctx.log?.(`${codename}: ${superseded.size} superseded entr${superseded.size === 1 ? 'y' : 'ies'} removed from the suite`);
    }
    for (const e of remaining) listed.add(e);
    for (const e of unknown) listed.add(e);
  }

  // 2. Delete pool files nothing lists and no live or recent publication references.
  const graceKeep = await protectedByPublications(layout, ctx.config.mirror.graceHours, now);
  const { debs } = await walkPool(layout);
  const doomed: string[] = [];
  for (const rel of debs) {
    if (listed.has(rel)) continue;
    if (graceKeep.has(rel)) {
      report.keptForGrace.push(rel);
      continue;
    }
    const size = await fsp.stat(join(layout.root, rel)).then((s) => s.size, () => 0);
    report.deleted.push({ pool: rel, size });
    report.bytesFreed += size;
    doomed.push(rel);
  }
  await removeFiles(sh, doomed.map((rel) => join(layout.root, rel)), ctx.signal);
  report.cleanedTemps = await cleanStaleTemps(sh, layout);
  if (!dryRun) {
    for (const rel of doomed) delete index.files[rel];
    await removeEmptyDirs(layout, [...doomed, ...report.cleanedTemps]);
  }
  if (!dryRun && (doomed.length || Object.keys(index.files).length !== indexSize)) await savePoolIndex(sh, layout, index);
  // The caller prints the summary (the command on stdout, refresh in its log).
  return report;
}

/** rmdir the directories that held deleted files, and their parents, while empty (never the pool root). */
async function removeEmptyDirs(layout: MirrorLayout, removed: string[]): Promise<void> {
  const dirs = new Set(removed.map((rel) => dirname(join(layout.root, rel))));
  const sorted = [...dirs].sort((a, b) => b.length - a.length);
  for (let dir of sorted) {
    while (dir.startsWith(layout.pool + '/') && basename(dir) !== '') {
      try {
        await fsp.rmdir(dir);
      } catch {
        break;
      }
      dir = dirname(dir);
    }
  }
}

export function summarizeGc(r: GcReport): string {
  const mib = (r.bytesFreed / 1048576).toFixed(1);
  return `${r.dryRun ? '[dry-run] ' : ''}gc: ${r.removedFromSuites.length} superseded suite entr${r.removedFromSuites.length === 1 ? 'y' : 'ies'}, ${r.deleted.length} pool file(s) ${r.dryRun ? 'would be ' : ''}deleted (${mib} MiB), ${r.keptForGrace.length} kept for the grace period`;
}
