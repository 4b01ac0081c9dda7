/**
 * The recipe files, layer by layer: the shipped recipes/ directory (part of
 * the program: /usr/share/nspawn-kit/recipes in the .deb), then the system
 * configuration's recipes.d and the configuration's recipeDirs. Listed and
 * read through strict-modes.ts: as root, a recipe directory or file that
 * someone else could write is refused, with the directory it sits in. The
 * shipped directory is not checked: whoever can write it can write the
 * program next to it.
 */
import { lstatSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { listTrusted, readTrusted } from './strict-modes.js';
import { throwIfUnreadable } from './unreadable.js';

/** The recipes/ directory shipped with the package. */
export const BUNDLED_RECIPES = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'recipes');
/** A recipe file larger than this is refused. */
export const MAX_RECIPE_FILE = 1 << 20;

export interface RecipeText {
  file: string;
  text: string;
}

/** The recipe directories in the order their recipes override each other by name (later wins); a directory named twice is read once, at its first place. */
export function recipeLayers(recipeDirs: readonly string[]): string[] {
  return [...new Set([BUNDLED_RECIPES, ...recipeDirs])];
}

/**
 * The `.json` files of one recipe directory, sorted, with their text; every
 * file or directory refused or unreadable becomes a problem instead. A
 * directory that does not exist gives nothing (the caller decides whether
 * that is a problem).
 */
export function readRecipeDir(dir: string, problems: string[]): RecipeText[] {
  try {
    if (!lstatSync(dir, { throwIfNoEntry: false })) return [];
  } catch (err) {
    throwIfUnreadable((err as NodeJS.ErrnoException).code, 'the recipe directory', dir);
    throw err;
  }
  const check = dir === BUNDLED_RECIPES ? false : undefined;
  const listed = listTrusted(dir, 'read recipes from it', check);
  if (!listed.ok) {
    throwIfUnreadable(listed.code, 'the recipe directory', dir);
    problems.push(...listed.problems);
    return [];
  }
  const out: RecipeText[] = [];
  for (const name of listed.names.filter((n) => n.endsWith('.json'))) {
    const file = join(dir, name);
    const read = readTrusted(file, MAX_RECIPE_FILE, 'load this recipe', check);
    if (!read.ok) throwIfUnreadable(read.code, 'the recipe file', file);
    if (!read.ok) problems.push(...read.problems);
    else if (read.over) problems.push(`${file}: is larger than ${MAX_RECIPE_FILE} bytes: not a recipe`);
    else out.push({ file, text: read.bytes.toString('utf8') });
  }
  return out;
}
