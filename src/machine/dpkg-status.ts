/**
 * What a machine has installed, from its dpkg status file, read from the
 * host without booting it. Root in the container controls that file: it is
 * read like every record of a root (record.ts: no link followed, no FIFO
 * waited on, a regular file on the descriptor, a size cap) and parsed
 * strictly: only stanzas whose Status is exactly "install ok installed"
 * count, and their Package, Version and Architecture must be what a Debian
 * control field may hold (mirror/deb.ts, the rules the importer applies to a
 * .deb); anything else is left out and reported, never guessed at.
 */
import { promises as fsp } from 'node:fs';
import { join, posix } from 'node:path';
import type { MachineHandle } from './handle.js';
import { openResolvedFile, refuseLinkedDirs, type Read } from './record.js';
import { ARCHITECTURE, DEB_VERSION, PACKAGE_NAME } from '../mirror/deb.js';

/** Inside the root. */
export const DPKG_STATUS = '/var/lib/dpkg/status';

/**
 * A desktop set's status file is 1-3 MB (about 1 KB per package; a QGIS
 * machine of ~1,500 packages is ~2 MB). 32 MiB is ten times the largest real
 * system's (some 20,000 packages) yet small enough to read whole per machine;
 * past it the file is not one dpkg wrote, and it is refused, not read.
 */
export const DPKG_STATUS_MAX_BYTES = 32 * 1024 * 1024;

/** Problems reported per file; the rest are counted. */
const MAX_PROBLEMS = 5;

export interface InstalledPackage {
  name: string;
  version: string;
  architecture: string;
}

export interface DpkgStatus {
  /** Installed packages, one per (name, architecture), in the file's order. */
  installed: InstalledPackage[];
  /** What was left out and why (at most a few, then a count). */
  problems: string[];
}

const SHORT = (v: string) => (v.length > 60 ? `${JSON.stringify(v.slice(0, 57))}...` : JSON.stringify(v));

function fieldProblem(name: string, version: string, architecture: string): string | undefined {
  if (!PACKAGE_NAME.test(name) || name.length > 128) return `Package ${SHORT(name)} is not a Debian package name`;
  if (!DEB_VERSION.test(version) || version.length > 256) return `Version ${SHORT(version)} is not a Debian version`;
  if (!ARCHITECTURE.test(architecture) || architecture.length > 32) return `Architecture ${SHORT(architecture)} is not a Debian architecture`;
  return undefined;
}

/**
 * The installed packages of a dpkg status text. A stanza that is not
 * installed (removed with its conffiles kept, half-configured, ...) is
 * skipped silently, as apt would not upgrade it; an installed stanza with a
 * missing or invalid field, a line that is not "Field: value", or the same
 * package twice is left out and reported with its stanza number.
 */
export function parseDpkgStatus(text: string, label = DPKG_STATUS): DpkgStatus {
  const installed: InstalledPackage[] = [];
  const all: string[] = [];
  const seen = new Set<string>();
  let fields = new Map<string, string>();
  let malformed: string | undefined;
  let stanza = 0;
  let lineNo = 0;
  const flush = (): void => {
    if (fields.size === 0 && malformed === undefined) return;
    stanza++;
    const status = fields.get('Status');
    const name = fields.get('Package') ?? '';
    const where = `${label}: stanza ${stanza}${name ? ` (Package ${SHORT(name)})` : ''}`;
    if (malformed !== undefined) all.push(`${where}: ${malformed}; left out`);
    else if (status === 'install ok installed') {
      const version = fields.get('Version') ?? '';
      const architecture = fields.get('Architecture') ?? '';
      const why = fieldProblem(name, version, architecture);
      const key = `${name}:${architecture}`;
      if (why) all.push(`${where}: ${why}; left out`);
      else if (seen.has(key)) all.push(`${where}: ${key} is installed twice; left out`);
      else {
        seen.add(key);
        installed.push({ name, version, architecture });
      }
    }
    fields = new Map();
    malformed = undefined;
  };
  for (const raw of text.split('\n')) {
    lineNo++;
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === '') {
      flush();
      continue;
    }
    // Continuation lines of multi-line fields (Description, Conffiles) start with a space or a tab.
    if (line[0] === ' ' || line[0] === '\t') {
      if (fields.size === 0 && malformed === undefined) malformed = `line ${lineNo} continues no field`;
      continue;
    }
    const m = /^([!-9;-~][!-9;-~]*):(.*)$/.exec(line);
    if (!m) {
      malformed ??= `line ${lineNo} is not "Field: value"`;
      continue;
    }
    const field = m[1] as string;
    if (fields.has(field)) malformed ??= `field ${field} appears twice (line ${lineNo})`;
    fields.set(field, (m[2] as string).trim());
  }
  flush();
  const problems = all.slice(0, MAX_PROBLEMS);
  if (all.length > MAX_PROBLEMS) problems.push(`${label}: ${all.length - MAX_PROBLEMS} more stanzas left out`);
  return { installed, problems };
}

export type StatusRead = { ok: true; status: DpkgStatus } | { ok: false; reason: string };

/**
 * The dpkg status of a machine, without mounting anything: from the root
 * (a copy, or a mounted overlay), else from an unmounted overlay's upper
 * directory and, when the machine never changed it, its base's. Unreadable
 * (a link, a FIFO, a device, too big, absent): the reason.
 */
export async function readMachineDpkgStatus(handle: MachineHandle, records: string): Promise<StatusRead> {
  const { storage } = handle;
  const places = [records];
  // An overlay read from its upper directory (unmounted, or the old layout): files it never changed are the base's.
  if (storage.kind === 'legacy-overlay' || (storage.kind === 'overlay' && records !== handle.root)) places.push(storage.lower);
  for (const place of places) {
    const read = await readStatusIn(place);
    if (read.ok) return { ok: true, status: parseDpkgStatus(read.value.toString('utf8'), `${place}${DPKG_STATUS}`) };
    if (!read.absent) return { ok: false, reason: read.reason };
  }
  return { ok: false, reason: `${records}${DPKG_STATUS} does not exist` };
}

/** The status file under one directory tree: every directory on the way a real one, the file read by openResolvedFile. */
async function readStatusIn(place: string): Promise<Read<Buffer>> {
  const label = `${place}${DPKG_STATUS}`;
  const realRoot = await fsp.realpath(place).catch(() => undefined);
  if (!realRoot) return { ok: false, reason: `${place} does not exist`, absent: true };
  const path = join(realRoot, DPKG_STATUS);
  const linked = await refuseLinkedDirs(realRoot, posix.dirname(path), label);
  if (linked) return { ok: false, reason: linked, absent: linked.endsWith('does not exist') };
  return openResolvedFile(path, { maxBytes: DPKG_STATUS_MAX_BYTES, label, noun: 'a dpkg status file' });
}
