/**
 * Facts about one .deb: full validation (the ar structure of deb(5) first,
 * ar.ts; then the data member must decompress
 * completely; `dpkg-deb --info` accepts a truncated file, `--fsys-tarfile`
 * does not), the control fields that name it in the pool, its size and
 * SHA256. (Debian version ordering: deb-version.ts.)
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Shell } from '../shell.js';
import { checkDebFile } from './ar.js';
import { mapLimit } from './archive-scan.js';

export interface DebPackage {
  name: string;
  /** Full version, epoch included ("1:2.3-4"). */
  version: string;
  architecture: string;
  /** Source package name (the "(version)" of the Source field dropped); the package name when absent. */
  source: string;
  size: number;
  sha256: string;
}

export type DebInspection = { ok: true; pkg: DebPackage } | { ok: false; reason: string };

export interface InspectOptions {
  /** Architectures accepted besides "all"; default: any well-formed one. */
  architectures?: readonly string[];
  signal?: AbortSignal;
  /**
   * SHA256 and size per path (same order), measured by whoever made the file:
   * the importer hashes its private pool copy while copying, so the bytes it
   * validates are the bytes it hashed and no second read is needed.
   */
  known?: ReadonlyArray<{ sha256: string; size: number } | undefined>;
  /** Follow a symbolic link (default: refused; the importer hands over its private copies). */
  followLinks?: boolean;
  /**
   * false: a verdict only (the watcher's "is it complete and valid?"), the
   * file is not read a second time to hash it; pkg.sha256 is then '' and
   * pkg.size the size stat saw. Default true.
   */
  hash?: boolean;
}

export const PACKAGE_NAME = /^[a-z0-9][a-z0-9+.-]+$/;
/** Debian version: [epoch:]upstream[-revision]; no "/" or "_" (they end up in file names). */
export const DEB_VERSION = /^(?:[0-9]+:)?[0-9A-Za-z][A-Za-z0-9.+~-]*$/;
export const ARCHITECTURE = /^[a-z0-9][a-z0-9-]*$/;

/** Streams the file once: SHA256 and byte count. */
export async function sha256File(path: string, signal?: AbortSignal): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  const stream = createReadStream(path, signal ? { signal } : {});
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { sha256: hash.digest('hex'), size };
}

/** Control characters (C0, C1, line separators) and backslashes escaped: a reason read from a file cannot forge a log line. */
export function printable(text: string): string {
  return text.replace(/[\x00-\x1f\x7f-\x9f\u2028\u2029\\]/g, (c) => {
    const code = c.charCodeAt(0);
    if (c === '\\') return '\\\\';
    return code > 0xff ? `\\u${code.toString(16).padStart(4, '0')}` : `\\x${code.toString(16).padStart(2, '0')}`;
  });
}

/** dpkg-deb's whole complaint: every line, escaped, without the repeated "dpkg-deb: error:" noise. */
export function dpkgReason(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => printable(l.replace(/^dpkg-deb(?: \(subprocess\))?: (?:error: )?/, '')));
  return lines.length ? lines.join(' / ') : 'no output';
}

/**
 * Fields the index owns: apt-ftparchive writes Filename, Size, MD5sum and
 * SHA256 itself, but copies SHA1, SHA512 and Description-md5 from the control
 * file when it does not compute them. A .deb that carries any of them is refused.
 */
export const INDEX_OWNED_FIELDS = ['Filename', 'Size', 'MD5sum', 'SHA1', 'SHA256', 'SHA512', 'Description-md5'] as const;

/**
 * The whole control file (`dpkg-deb --field` without names): the fields that
 * name the package (case-insensitive, as dpkg reads them), or why it is refused.
 */
export function readControl(text: string): { ok: true; fields: Record<string, string> } | { ok: false; reason: string } {
  const canonical = new Map(['Package', 'Version', 'Architecture', 'Source'].map((f) => [f.toLowerCase(), f]));
  const owned = new Map(INDEX_OWNED_FIELDS.map((f) => [f.toLowerCase(), f]));
  const fields: Record<string, string> = {};
  const seen = new Set<string>();
  for (const line of text.split('\n')) {
    const m = /^([^\s:#][^:\s]*):[ \t]*(.*)$/.exec(line);
    if (!m?.[1] || m[2] === undefined) continue;
    const lower = m[1].toLowerCase();
    if (owned.has(lower)) return { ok: false, reason: `control file sets ${owned.get(lower)}: the index owns that field (refused)` };
    if (seen.has(lower)) return { ok: false, reason: `control file has the field ${printable(m[1])} twice` };
    seen.add(lower);
    const name = canonical.get(lower);
    if (name) fields[name] = m[2].trim();
  }
  return { ok: true, fields };
}

/** "Field: value" lines of `dpkg-deb --field` with several fields asked. */
export function parseControlFields(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(line);
    if (m?.[1] && m[2] !== undefined) fields[m[1]] = m[2].trim();
  }
  return fields;
}

/** Checks the control fields that name a package; returns a reason or the package facts. */
export function checkControlFields(
  fields: Record<string, string>,
  architectures?: readonly string[],
): { ok: true; name: string; version: string; architecture: string; source: string } | { ok: false; reason: string } {
  const name = fields.Package ?? '';
  const version = fields.Version ?? '';
  const architecture = fields.Architecture ?? '';
  if (!name) return { ok: false, reason: 'control file has no Package field' };
  if (!PACKAGE_NAME.test(name)) return { ok: false, reason: `invalid package name ${JSON.stringify(name)}` };
  if (!version) return { ok: false, reason: 'control file has no Version field' };
  if (!DEB_VERSION.test(version)) return { ok: false, reason: `invalid version ${JSON.stringify(version)}` };
  if (!architecture) return { ok: false, reason: 'control file has no Architecture field' };
  if (!ARCHITECTURE.test(architecture)) return { ok: false, reason: `invalid architecture ${JSON.stringify(architecture)}` };
  if (architectures && architecture !== 'all' && !architectures.includes(architecture)) {
    return { ok: false, reason: `architecture ${architecture} is not one of the mirror's (${[...architectures, 'all'].join(', ')})` };
  }
  const sourceField = fields.Source ?? '';
  const sm = /^([^\s(]+)(?:\s*\(([^)]*)\))?$/.exec(sourceField);
  const source = sourceField ? sm?.[1] : name;
  if (!source || !PACKAGE_NAME.test(source)) return { ok: false, reason: `invalid Source field ${JSON.stringify(sourceField)}` };
  return { ok: true, name, version, architecture, source };
}

/**
 * Full validation of a .deb. Never throws for a bad file: the reason says
 * what is wrong (empty, truncated, not a Debian archive, bad fields).
 */
export async function inspectDeb(sh: Shell, path: string, opts: InspectOptions = {}): Promise<DebInspection> {
  const [one] = await inspectDebs(sh, [path], opts);
  return one ?? { ok: false, reason: 'not inspected' };
}

/**
 * One shell for a batch of files (a process start costs more than reading a
 * small .deb): per file, the control fields, then the whole data member
 * decompressed to /dev/null. File names travel as argv; the output is split
 * by markers carrying a random nonce, so no file name or message can forge one.
 */
const BATCH_SCRIPT = [
  'n=$1; shift; i=0',
  'for f do',
  '  i=$((i+1)); echo "@@$n $i"; echo "@@$n $i" >&2',
  '  dpkg-deb --field -- "$f"; rc=$?',
  '  if [ $rc -eq 0 ]; then dpkg-deb --fsys-tarfile -- "$f" >/dev/null; echo "@@$n data $?"; else echo "@@$n field $rc"; fi',
  'done',
].join('\n');

function splitByMarker(text: string, nonce: string): Map<number, string> {
  const parts = new Map<number, string>();
  let current = 0;
  let buf: string[] = [];
  const flush = (): void => {
    if (current) parts.set(current, buf.join('\n'));
    buf = [];
  };
  for (const line of text.split('\n')) {
    const m = line.startsWith(`@@${nonce} `) ? /^@@\S+ (\d+)$/.exec(line) : null;
    if (m) {
      flush();
      current = Number(m[1]);
    } else buf.push(line);
  }
  flush();
  return parts;
}

/** The ar check's reason in the words the importer has always used (the file-level ones as they are). */
export function layoutReason(reason: string): string {
  if (/^(?:empty file|not a regular file|cannot read|symbolic link)/.test(reason)) return reason;
  return /^truncated|^file shrank/.test(reason) ? `corrupt or truncated: ${reason}` : `not a valid .deb: ${reason}`;
}

export async function inspectDebs(sh: Shell, paths: string[], opts: InspectOptions = {}): Promise<DebInspection[]> {
  const results: Array<DebInspection | undefined> = new Array(paths.length).fill(undefined);
  const toRun: number[] = [];
  const sizes: number[] = [];
  // The ar structure first (headers only): dpkg-deb alone accepts files apt-ftparchive reads differently.
  const layouts = await mapLimit(paths, 32, (path) => checkDebFile(path, { followLinks: opts.followLinks }));
  for (const [i, layout] of layouts.entries()) {
    if (layout.ok) {
      sizes[i] = layout.size;
      toRun.push(i);
    } else results[i] = { ok: false, reason: layoutReason(layout.reason) };
  }
  if (toRun.length) {
    const nonce = randomBytes(8).toString('hex');
    const run = await sh.read(['sh', ['-c', BATCH_SCRIPT, 'sh', nonce, ...toRun.map((i) => paths[i] ?? '')]], {
      nothrow: true,
      signal: opts.signal,
      env: { LC_ALL: 'C' },
    });
    const out = splitByMarker(run.stdout, nonce);
    const err = splitByMarker(run.stderr, nonce);
    for (const [k, i] of toRun.entries()) {
      const text = out.get(k + 1);
      const stderr = err.get(k + 1) ?? '';
      const status = text === undefined ? undefined : new RegExp(`^@@${nonce} (field|data) (\\d+)$`, 'm').exec(text);
      if (!text || !status) {
        results[i] = { ok: false, reason: `not inspected (the validation shell stopped: ${dpkgReason(run.stderr)})` };
        continue;
      }
      if (status[1] === 'field') {
        results[i] = { ok: false, reason: `not a valid .deb: ${dpkgReason(stderr)}` };
        continue;
      }
      if (status[2] !== '0') {
        results[i] = { ok: false, reason: `corrupt or truncated: ${dpkgReason(stderr)}` };
        continue;
      }
      const control = readControl(text);
      if (!control.ok) {
        results[i] = control;
        continue;
      }
      const checked = checkControlFields(control.fields, opts.architectures);
      if (!checked.ok) {
        results[i] = checked;
        continue;
      }
      const { sha256, size } = opts.known?.[i] ?? (opts.hash === false ? { sha256: '', size: sizes[i] ?? 0 } : await sha256File(paths[i] ?? '', opts.signal));
      const { name, version, architecture, source } = checked;
      results[i] = size === 0 ? { ok: false, reason: 'empty file (0 bytes)' } : { ok: true, pkg: { name, version, architecture, source, size, sha256 } };
    }
  }
  return results.map((r) => r ?? { ok: false, reason: 'not inspected' });
}

export { compareVersions, parseVersion } from './deb-version.js';
