/**
 * The packages nspawn-kit has itself verified: every (Package, Version,
 * Architecture, SHA256) of the Packages lists in the private apt roots that
 * `mirror warm` keeps (<stateDir>/mirror/warm/<codename>/apt-<recipe>/state/lists,
 * fetched by apt and checked against the upstream's keyring and the recipe
 * repositories' keys), plus the mirror's own published Packages.
 *
 * A .deb from a machine's apt cache is written by root inside that machine;
 * it may enter the signed mirror only when its exact bytes are named here.
 * A container's own /var/lib/apt/lists is never read: the container controls it.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { Shell } from '../shell.js';
import type { MirrorLayout } from './layout.js';

export type TrustedSet = ReadonlySet<string>;

export function trustKey(name: string, version: string, architecture: string, sha256: string): string {
  return `${name}\0${version}\0${architecture}\0${sha256.toLowerCase()}`;
}

/** Keys of every complete stanza of a Packages index (fields other than the four are ignored). */
export function parsePackagesIndex(text: string): string[] {
  const keys: string[] = [];
  let name = '';
  let version = '';
  let arch = '';
  let sha = '';
  const flush = (): void => {
    if (name && version && arch && /^[0-9a-f]{64}$/.test(sha)) keys.push(trustKey(name, version, arch, sha));
    name = version = arch = sha = '';
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
    else if (field === 'SHA256') sha = value.toLowerCase();
  }
  flush();
  return keys;
}

/** Decompressors for the forms apt may keep lists in (Acquire::GzipIndexes and friends). */
const DECOMPRESS: Record<string, string> = { '.xz': 'xz', '.lz4': 'lz4', '.zst': 'zstd', '.bz2': 'bzip2', '.lzma': 'xz' };

const LIST_NAME = /_Packages(\.gz|\.xz|\.lz4|\.zst|\.bz2|\.lzma)?$/;

/** The text of a Packages list, whatever its compression. */
export async function readPackagesFile(sh: Shell, path: string): Promise<string> {
  const ext = /\.(gz|xz|lz4|zst|bz2|lzma)$/.exec(path)?.[0];
  if (!ext) return fsp.readFile(path, 'utf8');
  if (ext === '.gz') return gunzipSync(await fsp.readFile(path)).toString('utf8');
  const tool = DECOMPRESS[ext] ?? 'cat';
  return (await sh.read([tool, ['-dc', '--', path]])).stdout;
}

/** The verified lists nspawn-kit keeps: warm roots' apt lists and the published Packages. */
export async function verifiedListFiles(layout: MirrorLayout): Promise<string[]> {
  const out: string[] = [];
  const dirs = async (dir: string): Promise<string[]> =>
    (await fsp.readdir(dir, { withFileTypes: true }).catch(() => [])).filter((e) => e.isDirectory()).map((e) => join(dir, e.name));
  for (const codenameDir of await dirs(join(layout.state, 'warm'))) {
    for (const root of await dirs(codenameDir)) {
      if (!/\/apt-[^/]+$/.test(root)) continue;
      const lists = join(root, 'state', 'lists');
      // Only the lists apt moved into place after verifying them; partial/ holds unverified downloads.
      for (const e of await fsp.readdir(lists, { withFileTypes: true }).catch(() => [])) {
        if (e.isFile() && LIST_NAME.test(e.name)) out.push(join(lists, e.name));
      }
    }
  }
  for (const suite of await dirs(layout.dists)) {
    for (const component of await dirs(suite)) {
      for (const binary of await dirs(component)) {
        const packages = join(binary, 'Packages');
        if (/\/binary-[^/]+$/.test(binary) && (await fsp.stat(packages).catch(() => undefined))?.isFile()) out.push(packages);
      }
    }
  }
  return out.sort();
}

/** Parsed lists by path, reused while size and mtime are unchanged (the daemon imports often; a list is ~50 MB). */
const parsed = new Map<string, { stamp: string; keys: string[] }>();

/** Every key of every verified list (lists that cannot be read are reported through warn and skipped). */
export async function loadTrustedIndex(sh: Shell, layout: MirrorLayout, warn?: (message: string) => void): Promise<TrustedSet> {
  const set = new Set<string>();
  for (const file of await verifiedListFiles(layout)) {
    try {
      const st = await fsp.stat(file);
      const stamp = `${st.size}:${st.mtimeMs}:${st.ino}`;
      let entry = parsed.get(file);
      if (entry?.stamp !== stamp) {
        entry = { stamp, keys: parsePackagesIndex(await readPackagesFile(sh, file)) };
        parsed.set(file, entry);
      }
      for (const k of entry.keys) set.add(k);
    } catch (err) {
      warn?.(`${file}: cannot read a verified package list (${err instanceof Error ? err.message : String(err)}); skipped`);
    }
  }
  return set;
}
