/**
 * The suites (codenames) the visible recipes name, read before the recipes
 * are resolved: loadConfig looks up debootstrap's default mirror for those
 * that have no other upstream, once and asynchronously, so resolving a
 * recipe runs nothing. Tolerant on purpose: a file that does not parse
 * names no suite here; loadRecipeDefs reports it with every other problem.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { BUNDLED_RECIPES } from './recipes.js';
import type { Config } from './types.js';

async function codenameOf(file: string): Promise<string | undefined> {
  try {
    const data: unknown = JSON.parse(await fsp.readFile(file, 'utf8'));
    const codename = data && typeof data === 'object' && 'codename' in data ? data.codename : undefined;
    return typeof codename === 'string' ? codename : undefined;
  } catch {
    return undefined;
  }
}

/** The host's codename (a recipe's default) and every codename a recipe file or inline recipe names. */
export async function recipeSuites(config: Pick<Config, 'recipeDirs' | 'recipes' | 'host'>): Promise<string[]> {
  const suites = new Set<string>([config.host.codename]);
  for (const dir of [BUNDLED_RECIPES, ...config.recipeDirs]) {
    const files = await fsp.readdir(dir).catch(() => [] as string[]);
    for (const f of files.filter((n) => n.endsWith('.json')).sort()) {
      const codename = await codenameOf(join(dir, f));
      if (codename) suites.add(codename);
    }
  }
  for (const input of Object.values(config.recipes ?? {})) if (input.codename) suites.add(input.codename);
  return [...suites];
}
