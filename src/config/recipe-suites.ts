/**
 * The suites (codenames) the visible recipes name, read before the recipes
 * are resolved: loadConfig looks up debootstrap's default mirror for those
 * that have no other upstream, once and asynchronously, so resolving a
 * recipe runs nothing. Tolerant on purpose: a file that does not parse
 * (or one refused by the ownership checks) names no suite here;
 * loadRecipeDefs reports it with every other problem.
 */
import { readRecipeDir, recipeLayers } from './recipe-files.js';
import type { Config } from './types.js';

function codenameOf(text: string): string | undefined {
  try {
    const data: unknown = JSON.parse(text);
    const codename = data && typeof data === 'object' && 'codename' in data ? data.codename : undefined;
    return typeof codename === 'string' ? codename : undefined;
  } catch {
    return undefined;
  }
}

/** The host's codename (a recipe's default) and every codename a recipe file or inline recipe names. */
export async function recipeSuites(config: Pick<Config, 'recipeDirs' | 'recipes' | 'host'>): Promise<string[]> {
  const suites = new Set<string>([config.host.codename]);
  for (const dir of recipeLayers(config.recipeDirs)) {
    // Refused or unreadable files name no suite here; loadRecipeDefs reports them.
    for (const { text } of readRecipeDir(dir, [])) {
      const codename = codenameOf(text);
      if (codename) suites.add(codename);
    }
  }
  for (const input of Object.values(config.recipes ?? {})) if (input.codename) suites.add(input.codename);
  return [...suites];
}
