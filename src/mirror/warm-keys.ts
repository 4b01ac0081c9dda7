/**
 * The keys of a recipe's extra repositories inside a private apt root. apt
 * running as root for warm or a refresh must never be handed a key by a path
 * someone else can change: each key (the recipe's `key`, or the host's
 * `signedBy` file when the host has it) is read once through the checked read
 * (config/repo-keys.ts readKeyFile: as root, a file or directory a non-root
 * user can write is refused with a ConfigError, exit 2), normalised to its
 * public keys, and written as `<root>/etc/keyrings/<repo>.<asc|gpg>`; the
 * private sources name that copy. A `signedBy` the host lacks is skipped.
 */
import { join } from 'node:path';
import type { Repository } from '../config/schema.js';
import { normalisePublicKeys, readKeyFile } from '../config/repo-keys.js';
import { ConfigError, OperationError } from '../errors.js';
import type { Shell } from '../shell.js';
import type { AptSource } from './apt-root.js';

/** The directory of a private root that holds its copies of the extra repositories' keys. */
export function rootKeyringDir(rootDir: string): string {
  return join(rootDir, 'etc', 'keyrings');
}

/**
 * The private sources of the enabled extra repositories, each Signed-By its key's checked,
 * normalised copy under `rootDir`; `skipped` says which were left out and why. The keyrings
 * directory is rewritten every time (a key dropped from the recipe leaves no copy behind).
 */
export async function extraRepositorySources(
  sh: Shell,
  rootDir: string,
  recipe: { name: string; repositories: Repository[] },
  hostHas: (path: string) => boolean,
): Promise<{ sources: AptSource[]; skipped: string[] }> {
  const planned: Array<{ repo: Repository; file: string; content: Buffer; format: 'asc' | 'gpg' }> = [];
  const skipped: string[] = [];
  for (const repo of recipe.repositories) {
    if (!repo.enabled) continue;
    const file = repo.key ?? (repo.signedBy && hostHas(repo.signedBy) ? repo.signedBy : undefined);
    if (!file) {
      skipped.push(`${repo.name}: its key is only inside the container (${repo.signedBy ?? 'no key'}); not warmed`);
      continue;
    }
    planned.push({ repo, file, ...publicKeys(recipe.name, repo.name, file) });
  }
  // Every key is read and checked before the root changes: a refused one leaves the root as it was.
  const dir = rootKeyringDir(rootDir);
  await sh.remove(dir);
  await sh.mkdir(dir, 0o755);
  const sources: AptSource[] = [];
  for (const p of planned) {
    const copy = join(dir, `${p.repo.name}.${p.format}`);
    await sh.writeFile(copy, p.content, 0o644);
    sources.push({ uri: p.repo.uri, suite: p.repo.suite, components: p.repo.components, signedBy: copy });
  }
  return { sources, skipped };
}

/** The key file's public keys, read through the checked read; why not, naming recipe, repository and file. */
function publicKeys(recipe: string, repo: string, file: string): { content: Buffer; format: 'asc' | 'gpg' } {
  let bytes: Buffer;
  try {
    bytes = readKeyFile(file);
  } catch (err) {
    if (err instanceof ConfigError) throw err; // refused as root (config/strict-modes.ts): exit 2, as it says
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new OperationError(`recipe ${recipe}: repository ${repo}: key file ${file} cannot be read (${code})`, `Put the repository's public key at that path, or fix the recipe's "key" or "signedBy".`);
  }
  const keys = normalisePublicKeys(bytes);
  if (typeof keys === 'string') {
    throw new OperationError(`recipe ${recipe}: repository ${repo}: ${file} is not an OpenPGP public key: it ${keys}`, 'Export it with `gpg --export --armor KEYID > file.asc` and point "key" at that file.');
  }
  return { content: keys.content, format: keys.format };
}
