/**
 * The importer's rules for a file from a machine's apt cache. Root inside the
 * machine wrote the file, its name and the machine's provenance record, so:
 *
 * - the codename and machine name it comes with are validated like
 *   configuration; a bad one refuses that file, never the whole import;
 * - before a byte is copied, the file's apt name (`name_version_arch.deb`)
 *   must be promised by a verified list OF THE MACHINE'S OWN CODENAME, and
 *   the open file must have a size that list gives (stage.ts stops the copy
 *   one byte past it);
 * - right after the copy, before dpkg-deb reads a byte of it, the copy's
 *   size and SHA256 must be what such a list gives for that apt name;
 * - after validation, the five facts of the copy (name, version,
 *   architecture, size, SHA256) must be named by the lists of that codename's
 *   family (release, -updates, -security), or be a pool file already listed
 *   in one of its suites; the copy goes into exactly the suites that name it.
 *
 * "Own codename" is the family: a bookworm machine's security fix, fetched
 * from upstream bookworm-security, is named by that suite's list and lands
 * in bookworm-security; nothing of trixie (or trixie-security) counts.
 */
import { SAFE_NAME } from '../config/schema.js';
import type { Shell } from '../shell.js';
import type { DebPackage } from './deb.js';
import type { MirrorLayout } from './layout.js';
import type { PoolIndex } from './pool.js';
import { suitesOf } from '../config/suite-family.js';
import { CODENAME, readSuite } from './suites.js';
import { familyOf } from './verified-lists.js';
import { loadTrustedIndex, packageKey, parseArchiveFileName, type TrustedIndex } from './trusted-index.js';

/** Why a machine file's accompanying values are refused, or undefined. */
export function refuseMachineValues(codename: string, machine: string): string | undefined {
  if (!SAFE_NAME.test(machine) || machine.includes('..')) return `machine name ${JSON.stringify(machine)} is not a safe name; not imported`;
  if (!CODENAME.test(codename)) return `codename ${JSON.stringify(codename)} of machine ${machine} is not a codename like "bookworm"; not imported`;
  return undefined;
}

export const notVerified = (codename: string, machine: string): string => `not in any index nspawn-kit verified for ${codename} (machine ${machine})`;

/** Per-codename trusted indices, loaded once per import run. */
export class MachineTrust {
  private readonly byCodename = new Map<string, Promise<TrustedIndex>>();

  constructor(
    private readonly sh: Shell,
    private readonly layout: MirrorLayout,
    private readonly pool: PoolIndex,
    private readonly warn: (message: string) => void,
  ) {}

  private index(codename: string): Promise<TrustedIndex> {
    let p = this.byCodename.get(codename);
    if (!p) {
      p = (async () => {
        const index = await loadTrustedIndex(this.sh, this.layout, codename, this.warn);
        // Each family suite's own pool files (imported by the admin or verified before) count for that suite only.
        for (const suite of suitesOf(familyOf(codename), true).filter((x) => CODENAME.test(x))) {
          for (const rel of await readSuite(this.layout, suite)) {
            const e = this.pool.files[rel];
            if (e?.sha256) index.add({ name: e.name, version: e.version, architecture: e.architecture, size: e.size, sha256: e.sha256 }, suite);
          }
        }
        return index;
      })();
      this.byCodename.set(codename, p);
    }
    return p;
  }

  /** The sizes the file may have (by its apt name), or why it is refused before anything is copied. */
  async expectedSizes(fileName: string, codename: string, machine: string): Promise<{ sizes: number[]; key: string } | { reason: string }> {
    const id = parseArchiveFileName(fileName);
    if (!id) return { reason: `file name is not apt's name_version_arch.deb, so no verified index can name it (machine ${machine})` };
    const found = (await this.index(codename)).lookup(id.name, id.version, id.architecture);
    if (!found.length) return { reason: notVerified(codename, machine) };
    return { sizes: found.map((p) => p.size), key: packageKey(id.name, id.version, id.architecture) };
  }

  /**
   * true when the staged copy's size and SHA256 are what a verified list of the codename
   * gives for the file's apt name: checked BEFORE dpkg-deb reads (and decompresses) the copy.
   */
  async namesBytes(fileName: string, codename: string, staged: { size: number; sha256: string }): Promise<boolean> {
    const id = parseArchiveFileName(fileName);
    if (!id) return false;
    return (await this.index(codename)).lookup(id.name, id.version, id.architecture).some((p) => p.size === staged.size && p.sha256 === staged.sha256);
  }

  /** The suites of the codename's family whose verified lists name the validated copy's exact bytes (empty: refused). */
  async admits(codename: string, pkg: DebPackage): Promise<string[]> {
    return (await this.index(codename)).suitesOf(pkg);
  }
}
