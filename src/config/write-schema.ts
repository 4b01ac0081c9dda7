/**
 * Writes nspawnrc.schema.json and recipe.schema.json from the zod schema
 * (`npm run schema`). A unit test fails when the committed files drift.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configJsonSchema, recipeJsonSchema } from './schema.js';

export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export function renderSchemas(): Record<string, string> {
  const withId = (id: string, s: unknown) => `${JSON.stringify({ $id: id, ...(s as object) }, null, 2)}\n`;
  return {
    'nspawnrc.schema.json': withId('https://nspawn-kit.invalid/nspawnrc.schema.json', configJsonSchema()),
    'recipe.schema.json': withId('https://nspawn-kit.invalid/recipe.schema.json', recipeJsonSchema()),
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  for (const [name, text] of Object.entries(renderSchemas())) {
    writeFileSync(join(PACKAGE_ROOT, name), text);
    console.log(`wrote ${name}`);
  }
}
