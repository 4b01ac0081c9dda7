/**
 * apt sources of a container as deb822 `.sources` files, every one with
 * Signed-By (never an unauthenticated "trusted" source): the local mirror, the recipe's upstreams and
 * the recipe's extra repositories. Planning is pure; the only I/O here is
 * reading the repository key files named by the recipe (host side).
 */
import { posix } from 'node:path';
import type { Recipe } from '../config/types.js';
import type { Repository } from '../config/schema.js';
import { ConfigError, OperationError } from '../errors.js';
import { keyFormat, normalisePublicKeys, readKeyFile } from '../config/repo-keys.js';
import { MIRROR_MOUNT } from './paths.js';
import { renderStanza } from './render.js';

/** How a container reaches the local mirror. */
export type MirrorAccess = { kind: 'bind' } | { kind: 'http'; url: string };

export const KEYRINGS_DIR = '/etc/apt/keyrings';
export const SOURCES_DIR = '/etc/apt/sources.list.d';
export const MIRROR_KEYRING = `${KEYRINGS_DIR}/nspawn-kit-mirror.asc`;
export const MIRROR_SOURCES = `${SOURCES_DIR}/nspawn-kit-mirror.sources`;
export const UPSTREAM_SOURCES = `${SOURCES_DIR}/nspawn-kit-upstream.sources`;
/** The one-line sources.list the bootstrap leaves behind; removed so only .sources remain. */
export const LEGACY_SOURCES_LIST = '/etc/apt/sources.list';

/** Distribution keyrings by os-release ID, as installed by debian-archive-keyring / ubuntu-keyring. */
export const DISTRO_KEYRINGS: Readonly<Record<string, string>> = {
  debian: '/usr/share/keyrings/debian-archive-keyring.gpg',
  ubuntu: '/usr/share/keyrings/ubuntu-archive-keyring.gpg',
};

/** Names our own files use; a repository may not take them. */
const RESERVED_NAMES = new Set(['nspawn-kit-mirror', 'nspawn-kit-upstream']);

/** A file to create inside the root (absolute path inside the container). */
export interface RootFile {
  path: string;
  content: string | Buffer;
  mode: number;
}

export interface RepositoryKey {
  /** Host path the key was read from. */
  source: string;
  content: Buffer;
  format: 'asc' | 'gpg';
}

export { keyFormat };

/**
 * Reads every repository key of the recipe, normalised to its public keys
 * (see config/repo-keys.ts); a missing file or one without a public key names
 * recipe, repository and path.
 */
export async function loadRepositoryKeys(recipe: Recipe): Promise<Map<string, RepositoryKey>> {
  const keys = new Map<string, RepositoryKey>();
  for (const repo of recipe.repositories) {
    if (!repo.key) continue;
    let content: Buffer;
    try {
      content = readKeyFile(repo.key);
    } catch (err) {
      if (err instanceof ConfigError) throw err; // refused as root (config/strict-modes.ts): exit 2, as it says
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      throw new OperationError(
        `recipe ${recipe.name}: repository ${repo.name}: key file ${repo.key} cannot be read (${code})`,
        `Put the repository's public key at that path (e.g. download its .asc), or fix "key" in ${recipe.source}.`,
      );
    }
    const normal = normalisePublicKeys(content);
    if (typeof normal === 'string') {
      throw new OperationError(
        `recipe ${recipe.name}: repository ${repo.name}: ${repo.key} is not an OpenPGP public key: it ${normal}`,
        'Export it with `gpg --export --armor KEYID > file.asc` and point "key" at that file.',
      );
    }
    keys.set(repo.name, { source: repo.key, content: normal.content, format: normal.format });
  }
  return keys;
}

/** The distribution keyring to trust for the upstream: by os-release ID first, else whichever is present. */
export function pickUpstreamKeyring(osId: string | undefined, present: readonly string[]): string | undefined {
  const byId = osId ? DISTRO_KEYRINGS[osId] : undefined;
  if (byId && present.includes(byId)) return byId;
  return Object.values(DISTRO_KEYRINGS).find((k) => present.includes(k));
}

/** The local mirror's stanza: every suite of the recipe (release, -updates, -security), one URI, Signed-By. */
export function renderMirrorSources(suites: readonly string[], access: MirrorAccess): string {
  const uri = access.kind === 'bind' ? `file:${MIRROR_MOUNT}` : access.url;
  const how = access.kind === 'bind' ? `bind-mounted read-only at ${MIRROR_MOUNT}` : `served over HTTP by \`nspawn-kit mirror serve\``;
  return mirrorStanza(uri, suites, MIRROR_KEYRING, `Written by nspawn-kit: the local signed mirror, ${how}.`);
}

/** The local mirror's one stanza, whoever writes it (the machine's sources, the upgrade's). */
function mirrorStanza(uri: string, suites: readonly string[], signedBy: string, comment: string): string {
  return renderStanza(
    [
      ['Types', 'deb'],
      ['URIs', uri],
      ['Suites', suites.join(' ')],
      ['Components', 'main'],
      ['Signed-By', signedBy],
    ],
    [comment],
  );
}

/** The mirror's public key as the container sees the mirror bound read-only (mirror/layout.ts publicKeyAsc). */
export const MIRROR_BOUND_KEY = `${MIRROR_MOUNT}/mirror.asc`;

/**
 * The sources `nspawn-kit upgrade` hands apt: the bound mirror alone, with the
 * suites the host chose, Signed-By the mirror's key from the read-only mount
 * (not the machine's copy, which root inside could have replaced).
 */
export function renderUpgradeSources(suites: readonly string[]): string {
  return mirrorStanza(`file:${MIRROR_MOUNT}`, suites, MIRROR_BOUND_KEY, 'Written by nspawn-kit upgrade: the local signed mirror, bind-mounted read-only; removed after the upgrade.');
}

/**
 * Every suite of the recipe grouped by its own upstream (recipe.upstreams), in
 * the recipe's order: Debian's -security lives in another archive
 * (debian-security), so it gets its own stanza; suites sharing an archive
 * share one.
 */
export function upstreamGroups(recipe: Pick<Recipe, 'suites' | 'upstreams' | 'upstream'>): Array<{ uri: string; suites: string[] }> {
  const groups: Array<{ uri: string; suites: string[] }> = [];
  for (const suite of recipe.suites) {
    const uri = recipe.upstreams[suite] ?? recipe.upstream;
    const group = groups.find((g) => g.uri === uri);
    if (group) group.suites.push(suite);
    else groups.push({ uri, suites: [suite] });
  }
  return groups;
}

/**
 * The recipe's upstreams: one stanza per distinct archive, listing the
 * recipe's suites it carries (release, -updates, -security), Signed-By the
 * distribution keyring. Without a distribution keyring in the root every
 * stanza is written disabled rather than unsigned.
 */
export function renderUpstreamSources(recipe: Recipe, keyring: string | undefined): string {
  const stanzas = upstreamGroups(recipe).map(({ uri, suites }, i) => {
    const fields: Array<[string, string]> = [
      ['Types', 'deb'],
      ['URIs', uri],
      ['Suites', suites.join(' ')],
      ['Components', recipe.components.join(' ')],
      ['Signed-By', keyring ?? DISTRO_KEYRINGS.debian ?? ''],
    ];
    const comments = i === 0 ? [`Written by nspawn-kit: upstream of recipe ${recipe.name}.`] : [];
    if (!keyring) {
      fields.push(['Enabled', 'no']);
      if (i === 0) comments.push('Disabled: no distribution keyring was found in the root; install one and set Enabled: yes.');
    }
    return renderStanza(fields, comments);
  });
  // deb822: stanzas are separated by one empty line.
  return stanzas.join('\n');
}

/** Signed-By of a repository: its copied key, else the path given in the recipe. */
export function repositorySignedBy(recipe: Recipe, repo: Repository, key: RepositoryKey | undefined): string {
  if (key) return `${KEYRINGS_DIR}/${repo.name}.${key.format}`;
  if (repo.signedBy) return repo.signedBy;
  throw new OperationError(
    `recipe ${recipe.name}: repository ${repo.name} has neither "key" nor "signedBy"`,
    'Give the path of its public key ("key") or of a keyring already in the container ("signedBy"); unsigned repositories are not supported.',
  );
}

export function renderRepositorySources(recipe: Recipe, repo: Repository, signedBy: string): string {
  const fields: Array<[string, string]> = [
    ['Types', 'deb'],
    ['URIs', repo.uri],
    ['Suites', repo.suite],
    ['Components', repo.components.join(' ')],
    ['Signed-By', signedBy],
  ];
  if (!repo.enabled) fields.push(['Enabled', 'no']);
  return renderStanza(fields, [`Written by nspawn-kit: repository ${repo.name} of recipe ${recipe.name}.`]);
}

export interface SourcesInput {
  recipe: Recipe;
  mirrorAccess: MirrorAccess;
  /** Armored public key of the local mirror (<mirror.root>/mirror.asc). */
  mirrorKey: Buffer;
  repositoryKeys: Map<string, RepositoryKey>;
  /** Distribution keyring found in the root, see pickUpstreamKeyring. */
  upstreamKeyring: string | undefined;
}

export interface SourcesPlan {
  files: RootFile[];
  /** Paths inside the root to remove (the bootstrap's sources.list). */
  remove: string[];
  warnings: string[];
}

/** Every file of the container's apt configuration, with paths inside the root. */
export function planSources(input: SourcesInput): SourcesPlan {
  const { recipe } = input;
  const warnings: string[] = [];
  const files: RootFile[] = [
    { path: MIRROR_KEYRING, content: input.mirrorKey, mode: 0o644 },
    { path: MIRROR_SOURCES, content: renderMirrorSources(recipe.suites, input.mirrorAccess), mode: 0o644 },
    { path: UPSTREAM_SOURCES, content: renderUpstreamSources(recipe, input.upstreamKeyring), mode: 0o644 },
  ];
  if (!input.upstreamKeyring) {
    warnings.push(`no distribution keyring (${Object.values(DISTRO_KEYRINGS).join(', ')}) in the root: upstream ${upstreamGroups(recipe).map((g) => g.uri).join(', ')} written disabled`);
  }
  const seen = new Set<string>();
  for (const repo of recipe.repositories) {
    if (RESERVED_NAMES.has(repo.name) || seen.has(repo.name)) {
      throw new OperationError(
        `recipe ${recipe.name}: repository name ${repo.name} is ${seen.has(repo.name) ? 'used twice' : 'reserved by nspawn-kit'}`,
        'Give each repository its own name.',
      );
    }
    seen.add(repo.name);
    const key = input.repositoryKeys.get(repo.name);
    const signedBy = repositorySignedBy(recipe, repo, key);
    if (key) files.push({ path: signedBy, content: key.content, mode: 0o644 });
    files.push({ path: posix.join(SOURCES_DIR, `${repo.name}.sources`), content: renderRepositorySources(recipe, repo, signedBy), mode: 0o644 });
  }
  return { files, remove: [LEGACY_SOURCES_LIST], warnings };
}
