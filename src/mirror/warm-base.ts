/**
 * The variant's base set for `mirror warm`: the package names debootstrap
 * would install (`debootstrap --print-debs` from the release suite alone),
 * cached per release InRelease; and the keyring that verifies a codename's
 * suites (the distribution keyring debootstrap's suite script names).
 */
import { createHash } from 'node:crypto';
import { existsSync, promises as fsp, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Recipe } from '../config/types.js';
import { OperationError, PreflightError } from '../errors.js';
import { aptUri, listPrefix, type AptRoot } from './apt-root.js';
import type { MirrorContext } from './context.js';
import { sha256File } from './deb.js';
import type { MirrorLayout } from './layout.js';

/** The keyring debootstrap's suite script names (Debian: debian-archive-keyring.gpg); it signs every suite of the codename. */
export function suiteKeyring(codename: string): string {
  const script = `/usr/share/debootstrap/scripts/${codename}`;
  let keyring = '/usr/share/keyrings/debian-archive-keyring.gpg';
  try {
    keyring = /^keyring\s+(\S+)/m.exec(readFileSync(script, 'utf8'))?.[1] ?? keyring;
  } catch {
    // no script: debootstrap cannot bootstrap it either; the Debian keyring is the best guess
  }
  return keyring;
}

/** The keyring for a codename's suites: the given one or the distribution's; it must exist. */
export function codenameKeyring(codename: string, given?: string): string {
  const keyring = given ?? suiteKeyring(codename);
  if (!existsSync(keyring)) {
    throw new PreflightError(`the archive keyring ${keyring} for ${codename} is missing`, "Install the distribution's archive keyring package (debian-archive-keyring or ubuntu-keyring).");
  }
  return keyring;
}

/** SHA256 of the release suite's verified InRelease in the private root (what the base set depends on). */
async function inReleaseKey(root: AptRoot, recipe: Recipe): Promise<string | undefined> {
  const lists = join(root.dir, 'state', 'lists');
  const exact = join(lists, `${listPrefix(recipe.upstream, recipe.codename)}InRelease`);
  if (existsSync(exact)) return (await sha256File(exact)).sha256;
  return undefined;
}

/** Base set of the variant: cached per release InRelease, else debootstrap --print-debs in a temp dir under stateDir. */
export async function baseSet(ctx: MirrorContext, layout: MirrorLayout, recipe: Recipe, root: AptRoot, keyring: string): Promise<{ names: string[]; cached: boolean }> {
  const { sh } = ctx;
  const warmDir = join(layout.state, 'warm', recipe.codename);
  const id = createHash('sha256').update(JSON.stringify([recipe.upstream, recipe.variant, recipe.components, root.architecture])).digest('hex').slice(0, 16);
  const cacheFile = join(warmDir, `base-${recipe.variant}-${root.architecture}-${id}.json`);
  const key = await inReleaseKey(root, recipe);
  const cached = await fsp.readFile(cacheFile, 'utf8').then((t) => JSON.parse(t) as { key?: string; names?: string[] }, () => undefined);
  if (key && cached?.key === key && Array.isArray(cached.names)) return { names: cached.names, cached: true };

  const args = [
    '--print-debs',
    ...(recipe.variant === 'default' ? [] : [`--variant=${recipe.variant}`]),
    `--arch=${root.architecture}`,
    `--components=${recipe.components.join(',')}`,
    `--keyring=${keyring}`,
  ];
  if (sh.dryRun) {
    await sh.write(['debootstrap', [...args, recipe.codename, join(warmDir, 'tmp', 'target'), aptUri(recipe.upstream)]]);
    return { names: cached?.names ?? [], cached: false };
  }
  await fsp.mkdir(warmDir, { recursive: true });
  const tmp = await fsp.mkdtemp(join(warmDir, 'tmp-'));
  try {
    ctx.log?.(`${recipe.name}: computing the ${recipe.variant} base set (debootstrap --print-debs)`);
    // debootstrap creates and deletes the target itself: hand it a path that does not exist yet.
    const out = await sh.read(['debootstrap', [...args, recipe.codename, join(tmp, 'target'), aptUri(recipe.upstream)]], {
      signal: ctx.signal,
      env: { LC_ALL: 'C' },
      hint: `debootstrap could not resolve the ${recipe.variant} base set of ${recipe.codename} from ${recipe.upstream}; check the upstream URL and the network.`,
    });
    const names = out.stdout.split(/\s+/).filter((n) => /^[a-z0-9][a-z0-9+.-]+$/.test(n));
    if (!names.length) throw new OperationError(`debootstrap --print-debs printed no packages for ${recipe.codename} (${recipe.variant})`);
    if (key) await sh.writeFile(cacheFile, `${JSON.stringify({ key, names })}\n`);
    return { names, cached: false };
  } finally {
    await sh.remove(tmp);
  }
}
