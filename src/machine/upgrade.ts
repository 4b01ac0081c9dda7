/**
 * `nspawn-kit upgrade NAME|--all`: a machine upgraded from the local mirror,
 * offline (upgrade-run.ts says how: a non-booted systemd-nspawn for a
 * stopped machine, nsenter into a running one), from the suites `list`
 * counts for it (upgradable.ts machineSuites, those the mirror publishes).
 * What changed is read from its dpkg status before and after (dpkg-status.ts,
 * the hostile-file reader); afterwards its provenance, where `list` reads it,
 * names the publication it was upgraded from: `suites` (suite -> sha256 of
 * dists/<suite>/InRelease) and `upgradedAt`. A stopped machine's provenance
 * is written by the host after the run; a running machine's by the script
 * inside it, on success (the host writes nothing in a live root).
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { OperationError } from '../errors.js';
import { inReleaseSha256 } from '../rootfs/base-key.js';
import { machineLaunch } from './boot.js';
import type { MachineContext } from './create.js';
import { readMachineDpkgStatus, type InstalledPackage } from './dpkg-status.js';
import { readInRoot, resolveInRoot, writeInRoot } from './inject.js';
import { assertMachineName } from './name.js';
import { offlineRunCommand } from './nspawn-argv.js';
import { MIRROR_MOUNT, PROVENANCE, type Provenance } from './paths.js';
import type { Shell } from '../shell.js';
import { readProvenance, writeProvenance } from './provenance.js';
import { renderUpgradeSources } from './sources.js';
import { suitesOfMachine } from './upgradable.js';
import { containerLeader, entryOf, insideUpgradeArgv, nsenterCommand, upgradeArgv, type Entry } from './upgrade-run.js';

/** The sources file the host writes for the upgrade of a stopped machine, inside it (removed afterwards). */
export const UPGRADE_SOURCES = '/var/lib/nspawn-kit/upgrade.sources';

export interface PackageChange {
  name: string;
  architecture: string;
  /** Absent: newly installed (a new dependency: --with-new-pkgs). */
  from?: string;
  to: string;
}

export interface UpgradeReport {
  name: string;
  how: 'systemd-nspawn' | 'nsenter';
  dryRun: boolean;
  /** Suites upgraded from, with the sha256 of the InRelease recorded in the provenance. */
  suites: Record<string, string>;
  changes: PackageChange[];
  /** Notes: a suite not published, a dpkg status that could not be compared, a publication that moved meanwhile. */
  warnings: string[];
}

/** sha256 of each suite's published InRelease (a suite not published is absent). */
async function publishedInReleases(ctx: MachineContext, suites: readonly string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const suite of suites) {
    const sha = await inReleaseSha256(ctx.config, suite).catch((err: unknown) => {
      if (err instanceof OperationError) return undefined; // not published
      throw err;
    });
    if (sha) out[suite] = sha;
  }
  return out;
}

/** The packages that changed between two dpkg statuses (upgraded or newly installed), by name. */
export function packageChanges(before: readonly InstalledPackage[], after: readonly InstalledPackage[]): PackageChange[] {
  const old = new Map(before.map((p) => [`${p.name}:${p.architecture}`, p.version]));
  const out: PackageChange[] = [];
  for (const p of after) {
    const from = old.get(`${p.name}:${p.architecture}`);
    if (from === p.version) continue;
    out.push(from === undefined ? { name: p.name, architecture: p.architecture, to: p.version } : { name: p.name, architecture: p.architecture, from, to: p.version });
  }
  return out.sort((a, b) => (a.name === b.name ? a.architecture.localeCompare(b.architecture) : a.name < b.name ? -1 : 1));
}

/** apt's copy of a suite's InRelease from the bound mirror (URItoFileName of file:<MIRROR_MOUNT>/dists/<suite>/InRelease). */
function aptListCopy(suite: string): string {
  return `/var/lib/apt/lists/${`${MIRROR_MOUNT}/dists/${suite}/InRelease`.replace(/\//g, '_')}`;
}

/**
 * The InRelease apt saw: the published one when no publication happened
 * meanwhile; otherwise apt's own copy in the machine, believed only when it
 * is one of the two the mirror published (the machine cannot name a
 * publication that never existed).
 */
async function seenInRelease(root: string, suite: string, before: string, after: string | undefined): Promise<string | undefined> {
  if (before === after) return before;
  const copy = await readInRoot(root, aptListCopy(suite)).catch(() => undefined);
  const sha = copy && createHash('sha256').update(copy).digest('hex');
  return sha === before || sha === after ? sha : undefined;
}

/**
 * The provenance's `suites` after an upgrade, in the machine's suite order:
 * the InRelease apt used for each suite upgraded from; a suite of the machine
 * not upgraded from (not published now, or republished meanwhile) keeps its
 * earlier entry, else the publication seen at the start, so it stays one of
 * the machine's suites (which `list` counts once it is published).
 */
export function recordedSuites(
  wanted: readonly string[],
  upgraded: Readonly<Record<string, string>>,
  previous: Readonly<Record<string, string>> | undefined,
  atStart: Readonly<Record<string, string>>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of wanted) {
    const sha = upgraded[s] ?? previous?.[s] ?? atStart[s];
    if (sha !== undefined) out[s] = sha;
  }
  return out;
}

export interface UpgradeOptions {
  /**
   * Upgrade a running machine that has no user namespace of its own from
   * inside: its binaries then run as host root in its namespaces (less the
   * dropped capabilities, upgrade-run.ts). Without it such a machine is refused.
   */
  inside?: boolean;
}

export async function upgradeMachine(ctx: MachineContext, name: string, opts: UpgradeOptions = {}): Promise<UpgradeReport> {
  const { sh, config } = ctx;
  assertMachineName(name);
  const { root, settings, handle } = await machineLaunch(ctx, name);
  if (handle.storage.kind === 'legacy-overlay') {
    throw new OperationError(`machine ${name} has the old overlay layout: its directory holds only its changes`, `Run \`nspawn-kit migrate ${name}\` once, then upgrade it.`);
  }
  const prov = await readProvenance(root);
  if (!prov) throw new OperationError(`machine ${name} has no provenance record (${PROVENANCE})`, 'It was not built by `nspawn-kit create`; upgrade it from inside (apt-get upgrade), or recreate it.');
  const wanted = suitesOfMachine(config, prov);
  const before = await publishedInReleases(ctx, wanted);
  const suites = wanted.filter((s) => before[s] !== undefined);
  const warnings = wanted.filter((s) => before[s] === undefined).map((s) => `suite ${s} is not published in the mirror: not upgraded from`);
  if (suites.length === 0) {
    throw new OperationError(`the mirror publishes none of machine ${name}'s suites (${wanted.join(', ')})`, `Publish them first (\`nspawn-kit mirror warm ${prov.recipe}\`, or \`nspawn-kit mirror publish\`).`);
  }
  const leader = await containerLeader(root);
  const how = leader === undefined ? 'systemd-nspawn' : 'nsenter';
  const entry = leader === undefined ? undefined : await entryOf(leader);
  if (entry && !entry.ownUserNamespace && !opts.inside) {
    throw new OperationError(
      `machine ${name} is running without private users: upgrading it from inside would run its own apt, dpkg and shell as host root (outside nspawn's seccomp filter)`,
      `Stop it and run \`nspawn-kit upgrade ${name}\` (a stopped machine is upgraded in its own systemd-nspawn), or pass --inside if you trust root in that machine.`,
    );
  }
  if (leader !== undefined && !(await fsp.stat(join('/proc', String(leader), 'root', MIRROR_MOUNT, 'dists', suites[0] as string, 'InRelease')).catch(() => undefined))) {
    throw new OperationError(
      `machine ${name} is running without the local mirror at ${MIRROR_MOUNT}`,
      `Stop it and run \`nspawn-kit upgrade ${name}\` again: a stopped machine is upgraded with the mirror bound read-only.`,
    );
  }
  const statusBefore = await readMachineDpkgStatus(handle, root);
  const hint = `The output above (systemd-nspawn's or apt's) says why; nothing was recorded, the machine's packages are as dpkg left them. Run \`nspawn-kit upgrade ${name}\` again once fixed.`;
  const report: UpgradeReport = { name, how, dryRun: sh.dryRun, suites: {}, changes: [], warnings };
  if (entry === undefined) {
    await writeInRoot(sh, root, UPGRADE_SOURCES, renderUpgradeSources(suites), 0o644);
    try {
      await sh.write(offlineRunCommand(config, root, name, upgradeArgv(UPGRADE_SOURCES), settings), { hint });
    } finally {
      await sh.remove(await resolveInRoot(root, UPGRADE_SOURCES, false));
    }
    if (sh.dryRun) return report;
    const after = await publishedInReleases(ctx, suites);
    for (const suite of suites) {
      const seen = await seenInRelease(root, suite, before[suite] as string, after[suite]);
      if (seen) report.suites[suite] = seen;
      else warnings.push(`suite ${suite} was republished during the upgrade: the publication apt used is not known, the provenance keeps an earlier one; run the upgrade again`);
    }
  } else {
    // Running: the machine writes the sources and, on success, its provenance itself (upgradeInside).
    for (const suite of suites) report.suites[suite] = before[suite] as string;
    const recorded = { ...prov, suites: recordedSuites(wanted, report.suites, prov.suites, before), upgradedAt: new Date().toISOString() };
    await upgradeInside(sh, entry, suites, recorded, hint);
    if (sh.dryRun) return report;
    const after = await publishedInReleases(ctx, suites);
    for (const suite of suites.filter((s) => after[s] !== before[s])) {
      warnings.push(`suite ${suite} was republished during the upgrade: the provenance names the publication seen at its start; run the upgrade again`);
    }
  }
  const statusAfter = await readMachineDpkgStatus(handle, root);
  if (statusBefore.ok && statusAfter.ok) report.changes = packageChanges(statusBefore.status.installed, statusAfter.status.installed);
  else warnings.push(`what changed is unknown: ${statusBefore.ok ? '' : statusBefore.reason}${!statusBefore.ok && !statusAfter.ok ? '; ' : ''}${statusAfter.ok ? '' : statusAfter.reason}`);
  if (entry === undefined) await writeProvenance(sh, root, { ...prov, suites: recordedSuites(wanted, report.suites, prov.suites, before), upgradedAt: new Date().toISOString() });
  return report;
}

/**
 * The upgrade of a running machine, from the host: one command (setpriv,
 * nsenter, the script) and nothing else; the sources and the provenance
 * reach the script as argv and it writes them inside (upgrade-run.ts
 * INSIDE_UPGRADE_SCRIPT). No host write or removal in the live root.
 */
export async function upgradeInside(sh: Shell, entry: Entry, suites: readonly string[], provenance: Provenance, hint: string): Promise<void> {
  const argv = insideUpgradeArgv(PROVENANCE, renderUpgradeSources(suites), `${JSON.stringify(provenance, null, 2)}\n`);
  await sh.write(nsenterCommand(entry.leader, entry.drop, argv), { hint });
}

/** One line per change, or "already up to date". */
export function formatUpgrade(r: UpgradeReport): string[] {
  const lines = r.dryRun
    ? [`${r.name}: dry run, nothing upgraded`]
    : r.changes.length
    ? [`${r.name}: upgraded ${r.changes.length} package(s) from ${Object.keys(r.suites).join(', ')} (${r.how === 'nsenter' ? 'inside the running machine' : 'not booted, offline'}):`, ...r.changes.map((c) => `  ${c.name}:${c.architecture} ${c.from ?? '(new)'} -> ${c.to}`)]
    : [`${r.name}: already up to date`];
  return [...lines, ...r.warnings.map((w) => `${r.name}: warning: ${w}`)];
}
