/**
 * Preflight of a recipe's repository key files, before anything is
 * downloaded or built. `nspawn-kit config` accepts a recipe whose key file is
 * not there yet (the bundled recipes name keys the user saves), so a missing
 * key is found here, at the start of `create` and of the container graph,
 * instead of at injection after the base build. A key file that is there is
 * read and normalised by the same code injection uses (config/repo-keys.ts).
 */
import { statSync } from 'node:fs';
import type { Recipe } from '../config/types.js';
import { normalisePublicKeys, readKeyFile } from '../config/repo-keys.js';
import { ConfigError, PreflightError } from '../errors.js';

/** One line per key file of the recipe that is missing or is not a public key. */
export function repositoryKeyProblems(recipe: Pick<Recipe, 'name' | 'source' | 'repositories'>): string[] {
  const problems: string[] = [];
  for (const repo of recipe.repositories) {
    if (!repo.key) continue;
    const at = `recipe ${recipe.name} (${recipe.source}): repository ${repo.name}: key file ${repo.key}`;
    const st = statSync(repo.key, { throwIfNoEntry: false });
    if (st === undefined) {
      problems.push(`${at} does not exist: save the repository's public key there (e.g. download its .asc), or change "key" in the recipe`);
      continue;
    }
    // Never opened unless regular: a FIFO would block the read.
    if (!st.isFile()) {
      problems.push(`${at} is not a regular file`);
      continue;
    }
    try {
      const keys = normalisePublicKeys(readKeyFile(repo.key));
      if (typeof keys === 'string') problems.push(`${at} ${keys}; export the public key with \`gpg --export --armor KEYID\``);
    } catch (err) {
      // Without gpg (installed by the host tools stage) the key is checked again at injection.
      if (err instanceof PreflightError) continue;
      // Refused as root: someone else could write the key or its directory (config/strict-modes.ts).
      if (err instanceof ConfigError) {
        problems.push(...err.problems.map((p) => `recipe ${recipe.name} (${recipe.source}): repository ${repo.name}: ${p}`));
        continue;
      }
      problems.push(`${at} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
  }
  return problems;
}

/** Refuses (exit 2, like a configuration problem) a recipe whose key files are missing or bad. */
export function assertRepositoryKeys(recipe: Pick<Recipe, 'name' | 'source' | 'repositories'>): void {
  const problems = repositoryKeyProblems(recipe);
  if (problems.length) {
    throw new ConfigError(problems, `Save each key file named above, then run again; nothing was downloaded or built. \`nspawn-kit config\` shows which recipes name which keys.`);
  }
}
