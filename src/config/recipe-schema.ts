/**
 * A resolved recipe as a zod schema: the fields of a recipe as written
 * (schema.ts RecipeInputSchema), each now required, with the defaults a
 * recipe gets when neither it nor a recipe it extends sets the field. The
 * Recipe type is its output; resolveRecipe (recipes.ts) parses the merged
 * fields with it, so the defaults are written here and only here.
 */
import { z } from 'zod';
import { NspawnSettingsSchema, RecipeInputSchema } from './schema.js';

const field = RecipeInputSchema.shape;

/** What a recipe is: the part its hash covers (upstream, where packages come from, is not in it). */
export const RecipeBodySchema = z.object({
  name: z.string(),
  codename: field.codename.unwrap(),
  variant: field.variant.unwrap().default('minbase'),
  components: field.components.unwrap().default(['main']),
  packages: field.packages.unwrap().default([]),
  /** Repositories with `key` resolved to an absolute path. */
  repositories: field.repositories.unwrap().default([]),
  hostname: field.hostname.unwrap(),
  users: field.users.unwrap().default([]),
  steps: field.steps.unwrap().default([]),
  firstboot: field.firstboot.unwrap().default('systemd'),
  bootstrap: field.bootstrap.unwrap().default('debootstrap'),
  nspawn: NspawnSettingsSchema,
  refresh: field.refresh.unwrap().default(false),
  updates: field.updates.unwrap().default(true),
});

export const RecipeSchema = RecipeBodySchema.extend({
  description: z.string().default(''),
  /** Where the recipe was defined (file path, or "<config>: recipes.NAME"). */
  source: z.string(),
  /** The source of the recipe of the same name this one replaces (e.g. a shipped recipe overridden from /etc/nspawn-kit/recipes.d). */
  replaces: z.string().optional(),
  /** Chain of recipe names this one extends, nearest first. */
  parents: z.array(z.string()),
  /** Resolved upstream URL (recipe, then mirror.upstreams, then host apt sources, then debootstrap's default). */
  upstream: z.string(),
  /** The suites the recipe uses, release first (config/suite-family.ts suitesOf). */
  suites: z.array(z.string()).min(1),
  /** Upstream URL of each of those suites (the release's is `upstream`). */
  upstreams: z.record(z.string(), z.string()),
  /**
   * sha256 of the canonical JSON of the recipe body, for provenance.
   * `upstream` is left out: it says where packages come from, not what the
   * container is (the mirror's InRelease pins the package content).
   */
  hash: z.string(),
  /**
   * sha256 of only what shapes the base root filesystem (codename, variant,
   * components, packages, bootstrap backend, architecture): the base-cache key
   * together with the suite's InRelease. Users, steps, hostname do not change it.
   */
  baseHash: z.string(),
});

export type RecipeBody = z.output<typeof RecipeBodySchema>;
export type Recipe = z.output<typeof RecipeSchema>;
