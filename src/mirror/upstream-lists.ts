/**
 * The Packages lists of a private apt root, by suite: which upstream suite
 * names which exact .deb (name, version, architecture, size, SHA256). apt
 * fetched and verified these lists against the suite's keyring; a list file
 * belongs to the source whose apt file-name prefix it carries (listPrefix).
 * `mirror warm` and the nightly refresh file each .deb under the suite(s)
 * whose list names its bytes. A release's list is ~50 MB: an uncompressed
 * list is scanned in pieces, and only the packages asked for are kept.
 */
import { createReadStream, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Shell } from '../shell.js';
import { sourceOfList, type AptRoot, type AptSource } from './apt-root.js';
import { readPackagesFile, trustKey, type TrustedPackage } from './trusted-index.js';

const PACKAGES_LIST = /_Packages(\.gz|\.xz|\.lz4|\.zst|\.bz2|\.lzma)?$/;

/**
 * A Packages scanner fed text in pieces (a piece may end mid-line): the five facts of each complete
 * stanza whose name `want` accepts. Only the lines of those five fields become strings; the fields
 * it reads are ASCII by Debian policy, so a piece may be decoded as latin1.
 */
export function stanzaScanner(want: ReadonlySet<string> | undefined, out: TrustedPackage[]): { feed(text: string): void; end(): void } {
  let name = '';
  let version = '';
  let arch = '';
  let size = '';
  let sha = '';
  let rest = '';
  const flush = (): void => {
    if (name && version && arch && /^[0-9]{1,15}$/.test(size) && /^[0-9a-f]{64}$/.test(sha) && (!want || want.has(name))) {
      out.push({ name, version, architecture: arch, size: Number(size), sha256: sha });
    }
    name = version = arch = size = sha = '';
  };
  const value = (text: string, from: number, to: number): string => text.slice(from, to).trim();
  const lines = (text: string, final: boolean): void => {
    let i = 0;
    for (;;) {
      const j = text.indexOf('\n', i);
      if (j < 0 && !final) {
        rest = text.slice(i);
        return;
      }
      const e = j < 0 ? text.length : j;
      const c = text.charCodeAt(i);
      if (e === i || (e === i + 1 && c === 13)) flush();
      else if (c === 80 && text.startsWith('Package:', i)) name = value(text, i + 8, e);
      else if (c === 86 && text.startsWith('Version:', i)) version = value(text, i + 8, e);
      else if (c === 65 && text.startsWith('Architecture:', i)) arch = value(text, i + 13, e);
      else if (c === 83 && text.startsWith('Size:', i)) size = value(text, i + 5, e);
      else if (c === 83 && text.startsWith('SHA256:', i)) sha = value(text, i + 7, e).toLowerCase();
      if (j < 0) {
        rest = '';
        return;
      }
      i = j + 1;
    }
  };
  return {
    feed: (text) => lines(rest + text, false),
    end: () => {
      lines(rest, true);
      flush();
    },
  };
}

async function scanList(sh: Shell, path: string, want: ReadonlySet<string> | undefined): Promise<TrustedPackage[]> {
  const out: TrustedPackage[] = [];
  const scan = stanzaScanner(want, out);
  if (/\.(gz|xz|lz4|zst|bz2|lzma)$/.test(path)) {
    scan.feed(await readPackagesFile(sh, path));
  } else {
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) scan.feed((chunk as Buffer).toString('latin1'));
  }
  scan.end();
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
