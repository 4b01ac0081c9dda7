/**
 * Checks of a recipe that need more than its own fields: binds judged
 * against the configuration's directories (stateDir, machines, mirror) and
 * the host's file system, and repository key files read with gpg. They run
 * with the schema's checks, when recipes are loaded, before anything is built.
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError, PreflightError } from '../errors.js';
import { formatPath } from './issues.js';
import { bindProblem } from './path-policy.js';
import { normalisePublicKeys, readKeyFile } from './repo-keys.js';
import type { RecipeInput } from './schema.js';
import type { Config } from './types.js';

export interface PolicySubject {
  input: RecipeInput;
  /** Directory relative key paths are resolved against. */
  baseDir: string;
  /** "file: key.path" of a field of this recipe. */
  at: (path: PropertyKey[]) => string;
}

/** `file: path` for a recipe file, `file: recipes.NAME.path` for an inline recipe. */
export function fieldLocator(where: string, prefix: PropertyKey[]): (path: PropertyKey[]) => string {
  return (path) => `${where}: ${formatPath([...prefix, ...path])}`;
}

export function recipePolicyProblems(recipe: PolicySubject, config: Pick<Config, 'stateDir' | 'mirror' | 'machines'>): string[] {
  const problems: string[] = [];
  const { input, at } = recipe;
  for (const [field, readOnly] of [
    ['binds', false],
    ['bindsReadOnly', true],
  ] as const) {
    (input.nspawn?.[field] ?? []).forEach((bind, i) => {
      const why = bindProblem(bind, config, readOnly);
      if (why) problems.push(`${at(['nspawn', field, i])}: ${why}`);
    });
  }
  (input.repositories ?? []).forEach((repo, i) => {
    if (!repo.key) return;
    const file = resolve(recipe.baseDir, repo.key);
    // A key not downloaded yet is reported when the machine is built (the bundled
    // recipes name keys the user fetches); a file that is there must be a public key.
    if (!existsSync(file)) return;
    if (!statSync(file).isFile()) {
      problems.push(`${at(['repositories', i, 'key'])}: ${file} is not a regular file`);
      return;
    }
    try {
      const keys = normalisePublicKeys(readKeyFile(file));
      if (typeof keys === 'string') problems.push(`${at(['repositories', i, 'key'])}: ${file} ${keys}; export the public key with \`gpg --export --armor KEYID\``);
    } catch (err) {
      // Refused as root (strict-modes.ts): reported with the recipe's key path.
      if (err instanceof ConfigError) problems.push(...err.problems.map((p) => `${at(['repositories', i, 'key'])}: ${p}`));
      // Without gpg the key is checked (and the missing tool reported) at build time.
      else if (!(err instanceof PreflightError)) throw err;
    }
  });
  return problems;
}
