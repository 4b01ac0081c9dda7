/**
 * The Packages lists of a private apt root, by suite: which upstream suite
 * names which exact .deb (name, version, architecture, size, SHA256). apt
 * fetched and verified these lists against the suite's keyring; a list file
 * belongs to the source whose apt file-name prefix it carries (listPrefix).
 * `mirror warm` and the nightly refresh file each .deb under the suite(s)
 * whose list names its bytes.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Shell } from '../shell.js';
import { sourceOfList, type AptRoot, type AptSource } from './apt-root.js';
import { parsePackagesIndex, readPackagesFile, trustKey, type TrustedPackage } from './trusted-index.js';

const PACKAGES_LIST = /_Packages(\.gz|\.xz|\.lz4|\.zst|\.bz2|\.lzma)?$/;

/**
 * The packages each of `suites` lists in the root (a suite without a list file has none).
 * Only regular files are read: over file:// apt links an uncompressed list to the upstream's
 * own file, which may change after apt verified it; such a list is reported through warn.
 */
export async function readSuiteLists(
  sh: Shell,
  root: AptRoot,
  sources: readonly AptSource[],
  suites: readonly string[],
  warn?: (message: string) => void,
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
    const packages = parsePackagesIndex(await readPackagesFile(sh, join(lists, e.name)));
    out.get(source.suite)?.push(...packages);
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
