/**
 * `nspawn-kit status`: per suite what is published (packages, bytes, when,
 * until when), the signing key and the quarantine. Reads only, never checks
 * signatures (that is `mirror verify`), so it is fast and never fails on a
 * damaged mirror: what is damaged it reports as missing. A directory this
 * user may not read is not missing: status stops and says so (dir-access.ts).
 * Also whether the daemon runs (daemon-record.ts) and how the last refresh
 * ended (refresh-record.ts).
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { requireReadableDirs } from '../dir-access.js';
import { escapeText, neutralizeLine, safe } from '../escape.js';
import { exists } from '../shell.js';
import { withReason } from './import-state.js';
import { daemonState, type DaemonState } from './daemon-record.js';
import { readRefreshRecord, type RefreshRecord } from './refresh-record.js';
import type { MirrorContext } from './context.js';
import { CODENAME, listSuites, readSuite } from './suites.js';
import { signingKeyFingerprint } from './keys.js';
import { mirrorLayout } from './layout.js';
import { clearsignedText, parseRelease, parseStanzas } from './release.js';

export interface QuarantineEntry {
  file: string;
  reason: string;
  time: string;
}

export interface SuiteStatus {
  codename: string;
  /** Members in the suite list (what the next publish indexes). */
  members: number;
  /** Distinct .debs in the published indices. */
  packages: number;
  bytes: number;
  architectures: string[];
  /** Date of the published Release (ISO-8601), undefined when never published. */
  lastPublish: string | undefined;
  validUntil: string | undefined;
  expired: boolean;
}

export interface MirrorStatus {
  root: string;
  fingerprint: string | undefined;
  suites: SuiteStatus[];
  quarantined: QuarantineEntry[];
  /** Set when quarantine.json exists but cannot be read. */
  quarantineError?: string;
  daemon: DaemonState;
  /** How the last refresh ended; null when none was recorded. */
  lastRefresh: RefreshRecord | null;
  /** Set when the refresh record exists but cannot be believed. */
  lastRefreshError?: string;
}

export async function mirrorStatus(ctx: MirrorContext, now = new Date()): Promise<MirrorStatus> {
  const layout = mirrorLayout(ctx.config);
  // Absent directories are an answer (nothing published yet); unreadable ones stop status here.
  await requireReadableDirs([layout.root, layout.dists, ctx.config.stateDir, layout.state, layout.suites, layout.gnupgHome], 'status');
  const published = (await exists(layout.dists)) ? (await fsp.readdir(layout.dists)).filter((d) => CODENAME.test(d)) : [];
  const codenames = [...new Set([...published, ...(await listSuites(layout))])].sort();
  const suites: SuiteStatus[] = [];
  for (const codename of codenames) {
    const suiteDir = join(layout.dists, codename);
    const members = await readSuite(layout, codename).then((m) => m.length, () => 0);
    const text = await fsp.readFile(join(suiteDir, 'InRelease'), 'utf8').catch(() => undefined);
    const rel = text === undefined ? undefined : parseRelease(clearsignedText(text));
    const sizes = new Map<string, number>();
    for (const entry of rel?.sha256 ?? []) {
      if (!entry.path.endsWith('/Packages')) continue;
      const packages = await fsp.readFile(join(suiteDir, entry.path), 'utf8').catch(() => '');
      for (const s of parseStanzas(packages)) sizes.set(s['Filename'] ?? '', Number(s['Size'] ?? 0));
    }
    suites.push({
      codename,
      members,
      packages: sizes.size,
      bytes: [...sizes.values()].reduce((a, b) => a + b, 0),
      architectures: (rel?.fields['Architectures'] ?? '').split(/\s+/).filter(Boolean),
      lastPublish: rel?.date?.toISOString(),
      validUntil: rel?.validUntil?.toISOString(),
      expired: rel?.validUntil !== undefined && rel.validUntil.getTime() <= now.getTime(),
    });
  }
  const refresh = await readRefreshRecord(ctx.config);
  const status: MirrorStatus = {
    root: layout.root,
    fingerprint: await signingKeyFingerprint(ctx),
    suites,
    quarantined: [],
    daemon: await daemonState(ctx.sh, ctx.config),
    lastRefresh: refresh.record ?? null,
    ...(refresh.error ? { lastRefreshError: refresh.error } : {}),
  };
  if (await exists(layout.quarantine)) {
    try {
      const data: unknown = JSON.parse(await fsp.readFile(layout.quarantine, 'utf8'));
      status.quarantined = Array.isArray(data) ? data.filter(isQuarantineEntry) : [];
    } catch (err) {
      status.quarantineError = `${layout.quarantine}: ${(err as Error).message}`;
    }
  }
  return status;
}

function isQuarantineEntry(x: unknown): x is QuarantineEntry {
  if (typeof x !== 'object' || x === null) return false;
  const r = x as Record<string, unknown>;
  return typeof r['file'] === 'string' && typeof r['reason'] === 'string' && typeof r['time'] === 'string';
}

const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;

/**
 * Human-readable status (the CLI prints jsonText(status) for --json).
 * Every value read from disk is escaped: quarantined names come from hostile files
 * (reasons are messages: neutralized line by line, see formatImportReport).
 */
export function formatStatus(s: MirrorStatus): string {
  const lines = [safe`mirror ${s.root}`, s.fingerprint ? safe`signing key ${s.fingerprint}` : 'signing key (none yet: created by the first publish)'];
  if (!s.suites.length) lines.push('no suites yet: run `nspawn-kit mirror import` and `nspawn-kit mirror publish`');
  for (const x of s.suites) {
    const when = x.lastPublish ? `published ${x.lastPublish}, valid until ${x.validUntil ?? '?'}${x.expired ? ' (EXPIRED: publish again)' : ''}` : 'never published';
    lines.push(`  ${escapeText(x.codename)}: ${x.packages} packages, ${mib(x.bytes)} [${escapeText(x.architectures.join(' '))}], ${x.members} in the suite list; ${when}`);
  }
  lines.push(...formatDaemonAndRefresh(s));
  if (s.quarantineError) lines.push(safe`quarantine unreadable: ${s.quarantineError}`);
  if (s.quarantined.length) {
    lines.push(`quarantined (${s.quarantined.length}):`);
    for (const q of s.quarantined) lines.push(...withReason(safe`  ${q.file}`, `${q.reason} (${q.time})`, q.file));
  }
  return lines.join('\n');
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;

/** "daemon: running (pid 4711 since …, watch and schedule)" or "daemon: not running" and "last refresh: TIME, ok in 12 s" (or its problems, or FAILED: its error). */
export function formatDaemonAndRefresh(s: Pick<MirrorStatus, 'daemon' | 'lastRefresh' | 'lastRefreshError'>): string[] {
  const d = s.daemon;
  const parts = [d.watch ? 'watch' : '', d.schedule ? 'schedule' : ''].filter(Boolean).join(' and ');
  const daemon = !d.running
    ? 'daemon: not running'
    : d.pid === undefined
      ? 'daemon: running (systemd: nspawn-kit-daemon.service is active)'
      : `daemon: running (pid ${d.pid}${d.since ? ` since ${d.since}` : ''}${parts ? `, ${parts}` : ''})`;
  const lines = [daemon];
  if (d.note) lines.push(`  ${neutralizeLine(d.note)}`);
  const r = s.lastRefresh;
  if (s.lastRefreshError) lines.push(`last refresh: unknown (${neutralizeLine(s.lastRefreshError)})`);
  else if (!r) lines.push('last refresh: none recorded yet (`nspawn-kit mirror refresh`, the daemon\'s schedule or the nightly job records it)');
  else if (r.ok) lines.push(`last refresh: ${r.at}, ok in ${seconds(r.durationMs)}`);
  else {
    const first = neutralizeLine((r.problem ?? 'no reason recorded').split('\n')[0] ?? '');
    if (r.finished) lines.push(`last refresh: ${r.at}, ended with ${r.problems} problem(s) after ${seconds(r.durationMs)}, first: ${first}`);
    else lines.push(`last refresh: ${r.at}, FAILED after ${seconds(r.durationMs)}: ${first}`);
  }
  return lines;
}
