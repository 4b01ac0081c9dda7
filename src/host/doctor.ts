/**
 * Host preflight: which tools are here, which features need them, and how
 * to get them (the original recipe's "install necessary packages" step).
 */
import { existsSync } from 'node:fs';
import { release } from 'node:os';
import { dirname, join } from 'node:path';
import { PreflightError, requireRoot } from '../errors.js';
import { kernelFilesystems } from '../proc.js';
import type { Shell } from '../shell.js';
import { systemdIsPid1 } from '../config/host.js';
import { which, whichOutsidePath } from './tool-path.js';

export interface ToolSpec {
  tool: string;
  /** Debian package that ships it. */
  pkg: string;
  /** Features that need it. */
  neededBy: string[];
  /** Missing optional tools only disable the features listed. */
  optional: boolean;
}

export const TOOLS: readonly ToolSpec[] = [
  { tool: 'debootstrap', pkg: 'debootstrap', neededBy: ['create (debootstrap backend)', 'mirror warm'], optional: false },
  { tool: 'systemd-nspawn', pkg: 'systemd-container', neededBy: ['create', 'provision', 'boot', 'run'], optional: false },
  { tool: 'apt-ftparchive', pkg: 'apt-utils', neededBy: ['mirror publish'], optional: false },
  { tool: 'gpg', pkg: 'gnupg', neededBy: ['mirror publish (signing)', 'mirror verify'], optional: false },
  { tool: 'dpkg-deb', pkg: 'dpkg', neededBy: ['mirror import (validation)'], optional: false },
  { tool: 'xz', pkg: 'xz-utils', neededBy: ['mirror publish (Packages.xz)'], optional: false },
  { tool: 'mmdebstrap', pkg: 'mmdebstrap', neededBy: ['create (mmdebstrap backend)'], optional: true },
  { tool: 'apt-move', pkg: 'apt-move', neededBy: ['mirror import (importer "apt-move")'], optional: true },
  { tool: 'lz4', pkg: 'lz4', neededBy: ['mirror import (importer "apt-move", lz4-compressed apt lists)'], optional: true },
];

export interface ToolStatus extends ToolSpec {
  /** On the PATH nspawn-kit runs its tools with. */
  found: boolean;
  path: string | undefined;
  version: string | undefined;
  /** Not on that PATH but installed here (e.g. /usr/sbin/debootstrap under cron's PATH): the PATH needs the directory, not apt-get. */
  outsidePath: string | undefined;
}

export interface DoctorReport {
  root: boolean;
  systemdPid1: boolean;
  machinectl: 'usable' | 'unusable: systemd is not PID 1' | 'missing';
  /** Whether machines can be overlays over their base (machines.clone "auto" copies otherwise). */
  overlayfs: OverlayState;
  tools: ToolStatus[];
  /** Not found on PATH (so unusable for this run), whether installed elsewhere or not. */
  missingRequired: string[];
  missingOptional: string[];
  /** The PATH searched, and the tools of the two lists above that are installed outside it. */
  searchPath: string;
  notOnPath: string[];
}

export type OverlayState = 'loaded' | 'module available' | 'missing';

/** overlayfs in /proc/filesystems, or as a module of the running kernel that a mount loads. */
export function overlayState(filesystems: string, moduleDir: string | undefined): OverlayState {
  if (/^\s*(nodev\s+)?overlay\s*$/m.test(filesystems)) return 'loaded';
  return moduleDir !== undefined ? 'module available' : 'missing';
}

function hostOverlayState(): OverlayState {
  // No /proc: '' (treated as missing unless the module is there).
  const filesystems = kernelFilesystems();
  const dir = join('/lib/modules', release(), 'kernel/fs/overlayfs');
  return overlayState(filesystems, existsSync(dir) ? dir : undefined);
}

async function packageVersion(sh: Shell, pkg: string): Promise<string | undefined> {
  const r = await sh.read(['dpkg-query', ['-W', '-f=${Version}', '--', pkg]], { nothrow: true });
  return r.exitCode === 0 && r.stdout.trim() ? r.stdout.trim() : undefined;
}

/** Probes the host with the PATH nspawn-kit runs its tools with (default: its own). */
export async function runDoctor(sh: Shell, searchPath = process.env.PATH ?? ''): Promise<DoctorReport> {
  const tools: ToolStatus[] = [];
  for (const spec of TOOLS) {
    const path = which(spec.tool, searchPath);
    const outsidePath = path ? undefined : whichOutsidePath(spec.tool, searchPath);
    tools.push({ ...spec, found: Boolean(path), path, version: path ? await packageVersion(sh, spec.pkg) : undefined, outsidePath });
  }
  const pid1 = await systemdIsPid1();
  const machinectl = which('machinectl', searchPath);
  return {
    root: process.getuid?.() === 0,
    systemdPid1: pid1,
    machinectl: !machinectl ? 'missing' : pid1 ? 'usable' : 'unusable: systemd is not PID 1',
    overlayfs: hostOverlayState(),
    tools,
    missingRequired: tools.filter((t) => !t.found && !t.optional).map((t) => t.tool),
    missingOptional: tools.filter((t) => !t.found && t.optional).map((t) => t.tool),
    searchPath,
    notOnPath: tools.filter((t) => t.outsidePath !== undefined).map((t) => t.tool),
  };
}

/** The directories to add to PATH for the tools installed outside it, each once, in Debian's root PATH order. */
export function missingPathDirs(r: Pick<DoctorReport, 'tools'>): string[] {
  return [...new Set(r.tools.flatMap((t) => (t.outsidePath ? [dirname(t.outsidePath)] : [])))];
}

export function formatDoctor(r: DoctorReport): string {
  const lines = r.tools.map((t) => {
    const absent = t.outsidePath ? (t.optional ? 'not on PATH  (optional)' : 'NOT ON PATH') : t.optional ? 'missing  (optional)' : 'MISSING';
    const state = t.found ? `ok       ${t.version ?? ''}`.trimEnd() : absent;
    return `  ${t.tool.padEnd(15)} ${state.padEnd(28)} ${t.pkg.padEnd(18)} for ${t.neededBy.join('; ')}`;
  });
  return [
    `running as root: ${r.root ? 'yes' : 'no (create, provision, mirror publish need root)'}`,
    `systemd as PID 1: ${r.systemdPid1 ? 'yes' : 'no'} (machinectl ${r.machinectl}; nspawn-kit runs systemd-nspawn --register=no --keep-unit instead)`,
    r.overlayfs === 'missing'
      ? 'overlayfs: missing (machines are full copies of their base; machines.clone "overlay" fails)'
      : `overlayfs: ${r.overlayfs} (machines are overlays over their cached base)`,
    'tools:',
    ...lines,
    ...pathFix(r),
    ...(missingPackages(r).length ? [`fix: nspawn-kit doctor --fix  (apt-get install ${missingPackages(r).join(' ')})`] : []),
    ...(r.missingRequired.length || r.missingOptional.length ? [] : ['all tools present']),
  ].join('\n');
}

/** What is installed outside PATH, and the PATH that finds it (installing again would not help). */
function offPath(searchPath: string, tools: readonly ToolStatus[]): { problem: string; fix: string } | undefined {
  const off = tools.filter((t) => t.outsidePath);
  const dirs = missingPathDirs({ tools: off });
  if (!dirs.length) return undefined;
  return {
    problem: `${off.map((t) => t.outsidePath).join(', ')} ${off.length > 1 ? 'are' : 'is'} installed but not on PATH (${searchPath || 'empty'})`,
    fix: `Run it with PATH="$PATH:${dirs.join(':')}" (Debian's root PATH, which \`su -\` and sudo set, has ${dirs.length > 1 ? 'them' : 'it'}).`,
  };
}

function pathFix(r: DoctorReport): string[] {
  const off = offPath(r.searchPath, r.tools);
  return off ? [`fix: ${off.problem}; nspawn-kit runs tools by name from PATH.`, `     ${off.fix}`] : [];
}

/** A preflight needing these tools fails when one is installed but not on PATH: apt-get cannot fix that. */
export function assertOnPath(report: Pick<DoctorReport, 'searchPath'>, tools: readonly ToolStatus[]): void {
  const off = offPath(report.searchPath, tools);
  if (off) throw new PreflightError(off.problem, off.fix);
}

/** Packages apt-get would install: tools found nowhere (a tool installed outside PATH needs PATH, not apt-get). */
export function missingPackages(r: DoctorReport, includeOptional = true): string[] {
  return [...new Set(r.tools.filter((t) => !t.found && !t.outsidePath && (includeOptional || !t.optional)).map((t) => t.pkg))];
}

/** Installs what is missing with apt-get (root). Returns the packages installed. */
export async function fixHost(sh: Shell, report: DoctorReport, includeOptional = true): Promise<string[]> {
  const pkgs = missingPackages(report, includeOptional);
  if (!pkgs.length) return [];
  if (!sh.dryRun) requireRoot('installing host tools (doctor --fix)');
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  await sh.write(['apt-get', ['update', '-q']], { env, hint: 'Check the host apt sources and network.' });
  await sh.write(['apt-get', ['install', '-y', '-q', '--no-install-recommends', '--', ...pkgs]], { env });
  return pkgs;
}
