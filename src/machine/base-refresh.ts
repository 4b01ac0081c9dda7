/**
 * Bringing a cached base up to date instead of bootstrapping again. Every
 * base carries a record of what it was built from
 * (/var/lib/nspawn-kit/base.json: recipe, baseHash, key, each suite's
 * InRelease sha256, and the base it was derived from). When the key misses
 * (a suite published new packages) but a base of the same recipe and
 * baseHash is cached, base-build.ts copies that one (`cp -a --reflink=auto`)
 * into a build dir and runs the same install step as a fresh build (update
 * from every suite, install the recipe packages, upgrade), then stores it
 * under the new key: a few seconds of copying and the upgrades themselves,
 * against a whole bootstrap. The old base is then pruned by the usual rule
 * (never while an overlay machine stands on it); machines are untouched.
 *
 * One difference from a fresh build: a package an old version depended on
 * and a new one no longer needs stays installed (nothing is autoremoved).
 *
 * The record is read back like every record of a root (machine/record.ts:
 * no link followed, bounded, validated by its schema): a base is built by
 * nspawn-kit, but its maintainer scripts ran as root in it.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { Config, Recipe } from '../config/types.js';
import { SAFE_NAME } from '../config/schema.js';
import { CODENAME } from '../mirror/suites.js';
import type { Shell } from '../shell.js';
import { baseCacheDir, listBases, type BaseRef } from '../rootfs/base-cache.js';
import { BASE_NAME } from '../rootfs/overlay.js';
import { writeInRoot } from './inject.js';
import { RECORD_MAX_BYTES, readRecordInRoot } from './record.js';

/** The base's own record, inside its root. */
export const BASE_RECORD = '/var/lib/nspawn-kit/base.json';

const sha256 = z.string().regex(/^[0-9a-f]{64}$/);

export const BaseRecordSchema = z.strictObject({
  version: z.literal(1),
  recipe: z.string().regex(SAFE_NAME),
  baseHash: sha256,
  key: z.string().regex(/^[0-9a-f]{16}$/),
  /** suite -> sha256 of its InRelease the base was built (or last brought up to date) from. */
  suites: z.record(z.string().regex(CODENAME), sha256),
  builtAt: z.iso.datetime(),
  /** The base this one was copied from and upgraded (absent: bootstrapped). */
  derivedFrom: z.string().regex(BASE_NAME).optional(),
});

export type BaseRecord = z.output<typeof BaseRecordSchema>;

export function baseRecordOf(recipe: Pick<Recipe, 'name' | 'baseHash'>, ref: BaseRef, derivedFrom?: string): BaseRecord {
  return { version: 1, recipe: recipe.name, baseHash: recipe.baseHash, key: ref.key, suites: ref.suites, builtAt: new Date().toISOString(), ...(derivedFrom ? { derivedFrom } : {}) };
}

export async function writeBaseRecord(sh: Shell, root: string, record: BaseRecord): Promise<void> {
  await writeInRoot(sh, root, BASE_RECORD, `${JSON.stringify(record, null, 2)}\n`, 0o644);
}

/** The base's record, or undefined when it has none (built before records) or it is not a valid one. */
export async function readBaseRecord(root: string): Promise<BaseRecord | undefined> {
  const read = await readRecordInRoot(root, BASE_RECORD, RECORD_MAX_BYTES);
  if (!read.ok) return undefined;
  try {
    const parsed = BaseRecordSchema.safeParse(JSON.parse(read.value.toString('utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

export interface ParentBase {
  /** Directory name under <stateDir>/base. */
  name: string;
  dir: string;
  record: BaseRecord;
}

/**
 * The base a new one can be derived from: a cached base of the same recipe
 * and baseHash (so the same packages, variant and suites), other than the
 * target, whose record says so; the most recently built one when several are.
 */
export async function findParentBase(config: Pick<Config, 'stateDir'>, recipe: Pick<Recipe, 'name' | 'baseHash'>, target: BaseRef): Promise<ParentBase | undefined> {
  const found: ParentBase[] = [];
  for (const name of await listBases(config, recipe.name)) {
    const dir = join(baseCacheDir(config), name);
    if (dir === target.dir || !(await fsp.lstat(dir).catch(() => undefined))?.isDirectory()) continue;
    const record = await readBaseRecord(dir);
    if (record && record.recipe === recipe.name && record.baseHash === recipe.baseHash && name === `${recipe.name}-${record.key}`) {
      found.push({ name, dir, record });
    }
  }
  return found.sort((a, b) => Date.parse(b.record.builtAt) - Date.parse(a.record.builtAt))[0];
}
