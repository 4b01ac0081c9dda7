/**
 * The packages nspawn-kit has itself verified, per codename family (the
 * release, -updates, -security): every (Package, Version, Architecture, Size,
 * SHA256) of the Packages lists in the private apt roots that `mirror warm`
 * keeps (<stateDir>/mirror/warm/<codename>/apt-<recipe>/state/lists, fetched
 * by apt and checked against the upstream's keyring and the recipe
 * repositories' keys), plus the mirror's own published Packages of each suite
 * of the family (verified-lists.ts), each with the suite(s) whose list names it.
 *
 * A .deb from a machine's apt cache is written by root inside that machine;
 * it may enter the signed mirror only when its exact bytes are named here by
 * a list of the machine's own codename family (a bookworm machine cannot bring
 * a trixie package into bookworm), and goes into the suite(s) that name it (a
 * security fix fetched from upstream -security lands in bookworm-security).
 * A container's own /var/lib/apt/lists is never read: the container controls it.
 */
import { promises as fsp } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import type { Shell } from '../shell.js';
import type { MirrorLayout } from './layout.js';
import { publishedLists, warmLists } from './verified-lists.js';

/** One package a verified list names: the exact bytes it promises. */
export interface TrustedPackage {
  name: string;
  version: string;
  architecture: string;
  size: number;
  sha256: string;
}

/** The verified packages of ONE codename family: a bookworm machine is judged by the lists of bookworm and its update suites only. */
export interface TrustedIndex {
  codename: string;
  /** What the lists promise for this name, version and architecture (empty: nothing). */
  lookup(name: string, version: string, architecture: string): readonly TrustedPackage[];
  /** true when a list names exactly these bytes (all five facts). */
  has(pkg: TrustedPackage): boolean;
  /** The suites whose lists name exactly these bytes, sorted (empty: none). */
  suitesOf(pkg: TrustedPackage): string[];
}

/** A TrustedIndex that more packages can be added to, each for a suite (default: the codename). */
export type GrowingTrustedIndex = TrustedIndex & { add(pkg: TrustedPackage, suite?: string): void };

export function packageKey(name: string, version: string, architecture: string): string {
  return `${name}\0${version}\0${architecture}`;
}

export function trustKey(name: string, version: string, architecture: string, size: number, sha256: string): string {
  return `${packageKey(name, version, architecture)}\0${size}\0${sha256.toLowerCase()}`;
}

/** Every complete stanza of a Packages index (fields other than the five are ignored). */
export function parsePackagesIndex(text: string): TrustedPackage[] {
  const out: TrustedPackage[] = [];
  let name = '';
  let version = '';
  let arch = '';
  let size = '';
  let sha = '';
  const flush = (): void => {
    if (name && version && arch && /^[0-9]{1,15}$/.test(size) && /^[0-9a-f]{64}$/.test(sha)) out.push({ name, version, architecture: arch, size: Number(size), sha256: sha });
    name = version = arch = size = sha = '';
  };
  for (const line of text.split('\n')) {
    if (line === '' || line === '\r') {
      flush();
      continue;
    }
    // Continuation lines (multi-line fields such as Description) start with a space.
    const c = line.charCodeAt(0);
    if (c === 32 || c === 9) continue;
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const field = line.slice(0, colon);
    const value = line.slice(colon + 1).trim();
    if (field === 'Package') name = value;
    else if (field === 'Version') version = value;
    else if (field === 'Architecture') arch = value;
    else if (field === 'Size') size = value;
    else if (field === 'SHA256') sha = value.toLowerCase();
  }
  flush();
  return out;
}

/** An index over packages (the lists' and any the caller adds, e.g. the suite's own pool files). */
export function buildTrustedIndex(codename: string, packages: Iterable<TrustedPackage>): GrowingTrustedIndex {
  const byPackage = new Map<string, TrustedPackage[]>();
  const keys = new Map<string, Set<string>>();
  const add = (p: TrustedPackage, suite = codename): void => {
    const key = trustKey(p.name, p.version, p.architecture, p.size, p.sha256);
    const had = keys.get(key);
    if (had) {
      had.add(suite);
      return;
    }
    keys.set(key, new Set([suite]));
    const k = packageKey(p.name, p.version, p.architecture);
    const list = byPackage.get(k);
    if (list) list.push(p);
    else byPackage.set(k, [p]);
  };
  for (const p of packages) add(p);
  return {
    codename,
    add,
    lookup: (name, version, architecture) => byPackage.get(packageKey(name, version, architecture)) ?? [],
    has: (p) => keys.has(trustKey(p.name, p.version, p.architecture, p.size, p.sha256)),
    suitesOf: (p) => [...(keys.get(trustKey(p.name, p.version, p.architecture, p.size, p.sha256)) ?? [])].sort(),
  };
}

/**
 * apt's QuoteString (apt-pkg/contrib/strutl.cc): a byte in `bad`, "%", a
 * control or space character or a byte outside printable ASCII becomes
 * "%xx" (two lower-case hex digits); every other byte stays as it is.
 */
export function aptQuote(value: string, bad: string): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const ch = String.fromCharCode(byte);
    out += bad.includes(ch) || byte === 0x25 || byte <= 0x20 || byte >= 0x7f ? `%${byte.toString(16).padStart(2, '0')}` : ch;
  }
  return out;
}

/** Decodes %xx (hex) escapes; undefined for a malformed escape or bytes that are not UTF-8. */
function unquote(part: string): string | undefined {
  if (/%(?![0-9a-fA-F]{2})/.test(part)) return undefined;
  const bytes: number[] = [];
  for (let i = 0; i < part.length; i++) {
    if (part[i] === '%') {
      bytes.push(parseInt(part.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(part.charCodeAt(i));
  }
  const text = Buffer.from(bytes).toString('utf8');
  return text.includes('\uFFFD') ? undefined : text;
}

/**
 * Name, version and architecture as apt names a downloaded file
 * (`name_version_arch.deb`, each part quoted as apt quotes it: an epoch's ":"
 * is "%3a"; acquire-item.cc quotes "_:" in name and version, "_:." in the architecture).
 * Only apt's exact spelling is accepted (decoded, quoted again, compared), so
 * one package has exactly one file name: "%62igpkg" or "%3A" is not an alias of
 * "bigpkg" or "%3a". Undefined for any other name: such a file cannot be looked up, so it is refused.
 */
export function parseArchiveFileName(file: string): { name: string; version: string; architecture: string } | undefined {
  const m = /^([^_/]+)_([^_/]+)_([^_/]+)\.deb$/.exec(file);
  if (!m) return undefined;
  const raw = [m[1] ?? '', m[2] ?? '', m[3] ?? ''];
  const [name, version, architecture] = raw.map(unquote);
  if (!name || !version || !architecture) return undefined;
  if (aptQuote(name, '_:') !== raw[0] || aptQuote(version, '_:') !== raw[1] || aptQuote(architecture, '_:.') !== raw[2]) return undefined;
  return { name, version, architecture };
}

/** Decompressors for the forms apt may keep lists in (Acquire::GzipIndexes and friends). */
const DECOMPRESS: Record<string, string> = { '.xz': 'xz', '.lz4': 'lz4', '.zst': 'zstd', '.bz2': 'bzip2', '.lzma': 'xz' };

/** The text of a Packages list, whatever its compression. */
export async function readPackagesFile(sh: Shell, path: string): Promise<string> {
  const ext = /\.(gz|xz|lz4|zst|bz2|lzma)$/.exec(path)?.[0];
  if (!ext) return fsp.readFile(path, 'utf8');
  if (ext === '.gz') return gunzipSync(await fsp.readFile(path)).toString('utf8');
  const tool = DECOMPRESS[ext] ?? 'cat';
  return (await sh.read([tool, ['-dc', '--', path]])).stdout;
}

/**
 * The verified lists of ONE codename family (verified-lists.ts): the lists of
 * the warm roots fetched for it and the mirror's published dists/<suite> of
 * its suites. A list fetched for another codename never counts.
 */
export async function verifiedListFiles(layout: MirrorLayout, codename: string): Promise<string[]> {
  return (await verifiedLists(layout, codename)).map((l) => l.path).sort();
}

async function verifiedLists(layout: MirrorLayout, codename: string): Promise<Array<{ path: string; suite: string }>> {
  return [...(await warmLists(layout, codename)), ...(await publishedLists(layout, codename))];
}

/** Parsed lists by path, reused while size and mtime are unchanged (the daemon imports often; a list is ~50 MB). */
const parsed = new Map<string, { stamp: string; packages: TrustedPackage[] }>();

/** The verified packages of one codename (lists that cannot be read are reported through warn and skipped). */
export async function loadTrustedIndex(sh: Shell, layout: MirrorLayout, codename: string, warn?: (message: string) => void): Promise<GrowingTrustedIndex> {
  const index = buildTrustedIndex(codename, []);
  for (const { path: file, suite } of await verifiedLists(layout, codename)) {
    try {
      const st = await fsp.stat(file);
      const stamp = `${st.size}:${st.mtimeMs}:${st.ino}`;
      let entry = parsed.get(file);
      if (entry?.stamp !== stamp) {
        entry = { stamp, packages: parsePackagesIndex(await readPackagesFile(sh, file)) };
        parsed.set(file, entry);
      }
      for (const p of entry.packages) index.add(p, suite);
    } catch (err) {
      warn?.(`${file}: cannot read a verified package list (${err instanceof Error ? err.message : String(err)}); skipped`);
    }
  }
  return index;
}
