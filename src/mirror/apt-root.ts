/**
 * A private apt root for cache warming: its own sources (deb822 with
 * Signed-By), lists, cache and an empty dpkg status, isolated from the
 * host's /etc/apt by APT_CONFIG (so the host's apt.conf.d is not read) and
 * spelled out again with -o on every command line. No trusted flags.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Config, Recipe } from '../config/types.js';
import type { Command, RunOptions, RunResult, Shell } from '../shell.js';
import type { DebPackage } from './deb.js';
import { CODENAME } from '../config/formats.js';
import { aptQuote } from './trusted-index.js';

export interface AptSource {
  uri: string;
  suite: string;
  components: string[];
  /** Absolute path of the key that signs the repository (binary or armored). */
  signedBy: string;
}

export interface AptRoot {
  dir: string;
  architecture: string;
  /** -o options naming the private directories (same values as the APT_CONFIG file). */
  options: string[];
  env: Record<string, string>;
}

/** apt cannot read copy:// (an mmdebstrap scheme); the same directory is file:// to apt. */
export function aptUri(uri: string): string {
  return uri.replace(/^copy:\/\//, 'file://');
}

export function renderSources(sources: AptSource[]): string {
  return sources
    .map((s) =>
      [`Types: deb`, `URIs: ${aptUri(s.uri)}`, `Suites: ${s.suite}`, `Components: ${s.components.join(' ')}`, `Signed-By: ${s.signedBy}`].join('\n'),
    )
    .join('\n\n')
    .concat('\n');
}

export function aptRootOptions(dir: string, architecture: string, installRecommends: boolean): string[] {
  const settings: Array<[string, string]> = [
    ['Dir::Etc', join(dir, 'etc')],
    ['Dir::State', join(dir, 'state')],
    ['Dir::State::status', join(dir, 'state', 'status')],
    ['Dir::Cache', join(dir, 'cache')],
    ['Dir::Log', join(dir, 'log')],
    ['APT::Architecture', architecture],
    ['APT::Architectures', architecture],
    ['APT::Install-Recommends', installRecommends ? 'true' : 'false'],
    ['APT::Install-Suggests', 'false'],
    ['Acquire::Languages', 'none'],
  ];
  return settings.flatMap(([k, v]) => ['-o', `${k}=${v}`]);
}

/** Creates (or refreshes) the private root; the sources file is rewritten every time. */
export async function prepareAptRoot(
  sh: Shell,
  dir: string,
  architecture: string,
  sources: AptSource[],
  installRecommends = false,
): Promise<AptRoot> {
  for (const sub of ['etc/apt.conf.d', 'etc/preferences.d', 'etc/sources.list.d', 'etc/trusted.gpg.d', 'state/lists/partial', 'cache/archives/partial', 'log']) {
    await sh.mkdir(join(dir, sub));
  }
  const options = aptRootOptions(dir, architecture, installRecommends);
  const conf: string[] = [];
  for (let i = 0; i < options.length; i += 2) {
    const [k, v] = (options[i + 1] ?? '').split(/=(.*)/s);
    conf.push(`${k} "${v}";`);
  }
  await sh.writeFile(join(dir, 'etc', 'apt.conf'), `${conf.join('\n')}\n`);
  await sh.writeFile(join(dir, 'etc', 'sources.list'), '');
  await sh.writeFile(join(dir, 'etc', 'sources.list.d', 'warm.sources'), renderSources(sources));
  const status = join(dir, 'state', 'status');
  if (!(await fsp.stat(status).catch(() => undefined))) await sh.writeFile(status, '');
  return { dir, architecture, options, env: { APT_CONFIG: join(dir, 'etc', 'apt.conf') } };
}

/** The architecture a private root resolves for: the host's when the mirror carries it, else the mirror's first. */
export function rootArchitecture(config: Pick<Config, 'host' | 'mirror'>): string {
  const { host, mirror } = config;
  return mirror.architectures.includes(host.architecture) ? host.architecture : (mirror.architectures[0] ?? host.architecture);
}

/** apt's spec of one exact .deb (`name:arch=version`; an `all` package under the root's architecture). */
export function debSpec(root: Pick<AptRoot, 'architecture'>, p: { name: string; architecture: string; version: string }): string {
  return `${p.name}:${p.architecture === 'all' ? root.architecture : p.architecture}=${p.version}`;
}

/** `apt-get update` of a recipe's suites in a private root; any failed list is an error naming each suite's upstream. */
export async function updateRecipeLists(
  sh: Shell,
  root: AptRoot,
  recipe: Pick<Recipe, 'suites' | 'upstreams' | 'upstream'>,
  keyring: string,
  opts: Pick<RunOptions, 'signal' | 'onLine'>,
): Promise<RunResult> {
  return aptGet(sh, root, ['-q', '-o', 'APT::Update::Error-Mode=any', 'update'], {
    ...opts,
    write: true,
    hint: `apt-get update failed for ${recipe.suites.map((s) => `${s} (${recipe.upstreams[s] ?? recipe.upstream})`).join(', ')}: check the URLs, the network and the keyring ${keyring}.`,
  });
}

export async function aptGet(sh: Shell, root: AptRoot, args: string[], opts: RunOptions): Promise<RunResult> {
  const cmd: Command = ['apt-get', [...root.options, ...args]];
  return sh.run(cmd, { ...opts, env: { ...opts.env, ...root.env, LC_ALL: 'C' } });
}

/** "Fetched 1,234 kB in 1s (…)" -> bytes (apt prints B, kB, MB, GB: powers of 1000). */
export function parseFetched(output: string): number {
  const m = /^Fetched ([\d,.]+) ?([kMG]?B)\b/m.exec(output);
  if (!m) return 0;
  const n = Number((m[1] ?? '0').replace(/,/g, ''));
  const unit = { B: 1, kB: 1e3, MB: 1e6, GB: 1e9 }[m[2] as 'B' | 'kB' | 'MB' | 'GB'];
  return Number.isFinite(n) ? Math.round(n * unit) : 0;
}

/** A .deb apt would fetch; `source` comes from the upstream pool directory of the URI. */
export interface NeededDeb extends DebPackage {
  uri: string;
}

/** Parses `apt-get --print-uris` lines: 'URI' name_version_arch.deb SIZE SHA256:hex */
export function parsePrintUris(text: string): NeededDeb[] {
  const out: NeededDeb[] = [];
  for (const line of text.split('\n')) {
    const m = /^'([^']+)' (\S+)_(\S+)_(\S+)\.deb (\d+) SHA256:([0-9a-f]{64})$/.exec(line.trim());
    if (!m) continue;
    const [, uri = '', name = '', version = '', architecture = '', size = '0', sha256 = ''] = m;
    const parts = decodeURIComponent(new URL(uri).pathname).split('/');
    out.push({
      uri,
      name: decodeURIComponent(name),
      version: decodeURIComponent(version),
      architecture: decodeURIComponent(architecture),
      source: parts[parts.length - 2] ?? decodeURIComponent(name),
      size: Number(size),
      sha256,
    });
  }
  return out;
}

/**
 * A recipe's own private sources: each of its suites from that suite's upstream, Signed-By the
 * codename's keyring. Extra repositories are warm-keys.ts's (their keys are copied in, checked).
 */
export function recipeSources(recipe: { upstream: string; suites: string[]; upstreams: Record<string, string>; components: string[] }, keyring: string): AptSource[] {
  return recipe.suites.map((suite) => ({
    uri: Object.hasOwn(recipe.upstreams, suite) ? (recipe.upstreams[suite] as string) : recipe.upstream,
    suite,
    components: recipe.components,
    signedBy: keyring,
  }));
}

/** The characters apt's URItoFileName quotes (apt-pkg/contrib/strutl.cc), besides "%", controls, space and non-ASCII. */
const URI_FILE_NAME_BAD = '\\|{}[]<>"^~_=!@#$%^&*';

/**
 * apt's list file name prefix of a source's suite (URItoFileName: scheme and
 * user info dropped, QuoteString with apt's set, then "/" -> "_"):
 * `deb.debian.org_debian-security_dists_bookworm-security_`;
 * `file:///srv/my_mirror/~deb` -> `_srv_my%5fmirror_%7edeb_dists_bookworm_`.
 */
export function listPrefix(uri: string, suite: string): string {
  const stripped = aptUri(uri).replace(/^[a-z]+:\/\/(?:[^@/]*@)?/, '').replace(/\/+$/, '');
  return aptQuote(`${stripped}/dists/${suite}/`, URI_FILE_NAME_BAD).replace(/\//g, '_');
}

/**
 * The source a list file of the private root belongs to (by apt's file name), if any: the one
 * owner of "which suite does this list speak for" (upstream-lists.ts for filing, verified-lists.ts
 * for trust and overrides).
 */
export function sourceOfList<T extends { uri: string; suite: string }>(fileName: string, sources: readonly T[]): T | undefined {
  // The longest prefix wins, should one source's prefix begin another's (a URI ending in /dists/<suite>).
  return [...sources].sort((a, b) => listPrefix(b.uri, b.suite).length - listPrefix(a.uri, a.suite).length).find((s) => fileName.startsWith(listPrefix(s.uri, s.suite)));
}

/**
 * The record of a root's own sources (the codename family's upstreams, never an extra
 * repository's), `<root>/family.json`, written by warm and refresh with the sources: which
 * lists speak for the family's suites (and give Priority and Section) is read from it.
 */
export function familyRecordPath(dir: string): string {
  return join(dir, 'family.json');
}

export async function writeFamilyRecord(sh: Shell, root: AptRoot, own: readonly AptSource[]): Promise<void> {
  await sh.writeFile(familyRecordPath(root.dir), `${JSON.stringify({ sources: own.map((s) => ({ uri: s.uri, suite: s.suite })) })}\n`);
}

/** The record's sources; undefined when there is none or it is not exactly what writeFamilyRecord writes. */
export async function readFamilyRecord(dir: string): Promise<Array<{ uri: string; suite: string }> | undefined> {
  const text = await fsp.readFile(familyRecordPath(dir), 'utf8').catch(() => undefined);
  if (text === undefined || text.length > 65536) return undefined;
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return undefined;
  }
  const sources = (data as { sources?: unknown } | null)?.sources;
  if (!Array.isArray(sources)) return undefined;
  const out: Array<{ uri: string; suite: string }> = [];
  for (const s of sources as unknown[]) {
    const { uri, suite } = (s ?? {}) as { uri?: unknown; suite?: unknown };
    if (typeof uri !== 'string' || typeof suite !== 'string' || !/^[a-z]+:\/\/[\x21-\x7e]{1,4096}$/.test(uri) || !CODENAME.test(suite)) return undefined;
    out.push({ uri, suite });
  }
  return out;
}
