/**
 * The Packages lists of a private apt root, by suite: which upstream suite
 * names which exact .deb (name, version, architecture, size, SHA256). apt
 * fetched and verified these lists against the suite's keyring; a list file
 * belongs to the source whose apt file-name prefix it carries (listPrefix).
 * `mirror warm` and the nightly refresh file each .deb under the suite(s)
 * whose list names its bytes. A release's list is ~50 MB: an uncompressed
 * list is read line by line, and only the packages asked for are kept.
 */
import { createReadStream, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Shell } from '../shell.js';
import { sourceOfList, type AptRoot, type AptSource } from './apt-root.js';
import { readPackagesFile, trustKey, type TrustedPackage } from './trusted-index.js';

const PACKAGES_LIST = /_Packages(\.gz|\.xz|\.lz4|\.zst|\.bz2|\.lzma)?$/;

/** A line-by-line Packages parser: the five facts of each complete stanza whose name `want` accepts. */
function stanzaParser(want: ReadonlySet<string> | undefined, out: TrustedPackage[]): { line(l: string): void; end(): void } {
  let name = '';
  let version = '';
  let arch = '';
  let size = '';
  let sha = '';
  const end = (): void => {
    if (name && version && arch && /^[0-9]{1,15}$/.test(size) && /^[0-9a-f]{64}$/.test(sha) && (!want || want.has(name))) {
      out.push({ name, version, architecture: arch, size: Number(size), sha256: sha });
    }
    name = version = arch = size = sha = '';
  };
  const line = (l: string): void => {
    if (l === '' || l === '\r') return end();
    const c = l.charCodeAt(0);
    if (c === 32 || c === 9) return;
    const colon = l.indexOf(':');
    if (colon < 0) return;
    const field = l.slice(0, colon);
    if (field === 'Package') name = l.slice(colon + 1).trim();
    else if (field === 'Version') version = l.slice(colon + 1).trim();
    else if (field === 'Architecture') arch = l.slice(colon + 1).trim();
    else if (field === 'Size') size = l.slice(colon + 1).trim();
    else if (field === 'SHA256') sha = l.slice(colon + 1).trim().toLowerCase();
  };
  return { line, end };
}

async function scanList(sh: Shell, path: string, want: ReadonlySet<string> | undefined): Promise<TrustedPackage[]> {
  const out: TrustedPackage[] = [];
  const p = stanzaParser(want, out);
  if (/\.(gz|xz|lz4|zst|bz2|lzma)$/.test(path)) {
    for (const l of (await readPackagesFile(sh, path)).split('\n')) p.line(l);
  } else {
    const lines = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
    for await (const l of lines) p.line(l);
  }
  p.end();
  return out;
}

/**
 * The packages each of `suites` lists in the root (a suite without a list file has none); with
 * `want`, only the packages of those names. Only regular files are read: over file:// apt links an
 * uncompressed list to the upstream's own file, which may change after apt verified it; such a
 * list is reported through warn.
 */
export async function readSuiteLists(
  sh: Shell,
  root: AptRoot,
  sources: readonly AptSource[],
  suites: readonly string[],
  warn?: (message: string) => void,
  want?: ReadonlySet<string>,
): Promise<Map<string, TrustedPackage[]>> {
  const out = new Map<string, TrustedPackage[]>(suites.map((s) => [s, []]));
  const own = sources.filter((s) => suites.includes(s.suite));
  const lists = join(root.dir, 'state', 'lists');
  for (const e of await fsp.readdir(lists, { withFileTypes: true }).catch(() => [])) {
    if (!PACKAGES_LIST.test(e.name)) continue;
    const source = sourceOfList(e.name, own);
    if (!source) continue;
    if (!e.isFile()) {
      warn?.(`the ${source.suite} list ${e.name} is not a regular file (apt links an uncompressed file:// list to the upstream's); not read: its .debs are filed under the release`);
      continue;
    }
    out.get(source.suite)?.push(...(await scanList(sh, join(lists, e.name), want)));
  }
  return out;
}

/** The suites naming each exact .deb (trustKey), in the order of `lists`. */
export function suitesByBytes(lists: ReadonlyMap<string, readonly TrustedPackage[]>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [suite, packages] of lists) {
    for (const p of packages) {
      const k = trustKey(p.name, p.version, p.architecture, p.size, p.sha256);
      const have = out.get(k);
      if (!have) out.set(k, [suite]);
      else if (!have.includes(suite)) have.push(suite);
    }
  }
  return out;
}
