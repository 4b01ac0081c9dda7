/**
 * Facts about one .deb: full validation (the data member must decompress
 * completely; `dpkg-deb --info` accepts a truncated file, `--fsys-tarfile`
 * does not), the control fields that name it in the pool, its size and
 * SHA256. Plus Debian version ordering, which gc and warm need.
 */
import { createHash } from 'node:crypto';
import { createReadStream, promises as fsp } from 'node:fs';
import type { Shell } from '../shell.js';

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

/** The first useful line of dpkg-deb's complaint, without its path noise. */
function firstError(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const err = lines.find((l) => /error/i.test(l)) ?? lines[0] ?? 'no output';
  return err.replace(/^dpkg-deb(?: \(subprocess\))?: (?:error: )?/, '');
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
  let st;
  try {
    st = await fsp.stat(path);
  } catch (err) {
    return { ok: false, reason: `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}` };
  }
  if (!st.isFile()) return { ok: false, reason: 'not a regular file' };
  if (st.size === 0) return { ok: false, reason: 'empty file (0 bytes)' };

  const fieldRun = await sh.read(['dpkg-deb', ['--field', '--', path, 'Package', 'Version', 'Architecture', 'Source']], {
    nothrow: true,
    signal: opts.signal,
    env: { LC_ALL: 'C' },
  });
  if (fieldRun.exitCode !== 0) return { ok: false, reason: `not a valid .deb: ${firstError(fieldRun.stderr)}` };
  const checked = checkControlFields(parseControlFields(fieldRun.stdout), opts.architectures);
  if (!checked.ok) return checked;

  // The whole data member must decompress; the tar stream goes to /dev/null, not into memory.
  const payload = await sh.read(['sh', ['-c', 'dpkg-deb --fsys-tarfile -- "$1" >/dev/null', 'sh', path]], {
    nothrow: true,
    signal: opts.signal,
    env: { LC_ALL: 'C' },
  });
  if (payload.exitCode !== 0) return { ok: false, reason: `corrupt or truncated: ${firstError(payload.stderr)}` };

  const { sha256, size } = await sha256File(path, opts.signal);
  if (size === 0) return { ok: false, reason: 'empty file (0 bytes)' };
  const { name, version, architecture, source } = checked;
  return { ok: true, pkg: { name, version, architecture, source, size, sha256 } };
}

// ---- Debian version ordering (dpkg's verrevcmp) ----

function order(c: string | undefined): number {
  if (c === undefined || c === '') return 0;
  if (c >= '0' && c <= '9') return 0;
  if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')) return c.charCodeAt(0);
  if (c === '~') return -1;
  return c.charCodeAt(0) + 256;
}

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';

function verrevcmp(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    let firstDiff = 0;
    while ((i < a.length && !isDigit(a[i])) || (j < b.length && !isDigit(b[j]))) {
      const ac = order(a[i]);
      const bc = order(b[j]);
      if (ac !== bc) return ac - bc;
      i++;
      j++;
    }
    while (a[i] === '0') i++;
    while (b[j] === '0') j++;
    while (isDigit(a[i]) && isDigit(b[j])) {
      if (!firstDiff) firstDiff = a.charCodeAt(i) - b.charCodeAt(j);
      i++;
      j++;
    }
    if (isDigit(a[i])) return 1;
    if (isDigit(b[j])) return -1;
    if (firstDiff) return firstDiff;
  }
  return 0;
}

export function parseVersion(v: string): { epoch: bigint; upstream: string; revision: string } {
  const colon = v.indexOf(':');
  const epoch = colon > 0 && /^\d+$/.test(v.slice(0, colon)) ? BigInt(v.slice(0, colon)) : 0n;
  const rest = colon > 0 ? v.slice(colon + 1) : v;
  const dash = rest.lastIndexOf('-');
  return dash >= 0 ? { epoch, upstream: rest.slice(0, dash), revision: rest.slice(dash + 1) } : { epoch, upstream: rest, revision: '' };
}

/** Debian version ordering, as `dpkg --compare-versions`: negative, zero or positive. */
export function compareVersions(a: string, b: string): number {
  const va = parseVersion(a);
  const vb = parseVersion(b);
  if (va.epoch !== vb.epoch) return va.epoch < vb.epoch ? -1 : 1;
  const up = verrevcmp(va.upstream, vb.upstream);
  if (up !== 0) return Math.sign(up);
  return Math.sign(verrevcmp(va.revision, vb.revision));
}
