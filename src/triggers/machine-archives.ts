/**
 * Finding the apt caches of the machines nspawn-kit built, seen from the host.
 * Root inside a machine controls everything under its root: the provenance
 * record, every directory on the way to /var/cache/apt/archives, and the
 * files in it. So nothing in a root is opened in a way that follows a link
 * out of it or blocks (O_NOFOLLOW | O_NONBLOCK, the open descriptor checked
 * with fstat: machine/record.ts), a record is read up to RECORD_MAX_BYTES only, and every value
 * read is validated like configuration (codename, machine name). A machine
 * whose record or cache is bad is refused with a reason (the watcher logs it
 * once); the other machines and the admin's archives are not affected.
 *
 * Residual race (Node has no openat): the checks walk the path by name, so
 * root in a machine can swap a checked directory for a symlink right after
 * the walk. The importer narrows that again (archive-scan.ts refuseMachineFile
 * re-checks the directory, stage.ts opens the file with O_NOFOLLOW, fstats the
 * descriptor and copies at most the verified size) and, above all, a file
 * read through such a swap still enters the mirror only if its exact bytes
 * are a verified package of the machine's codename: the race can make the
 * host read a file, never publish one it has not verified.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Archive } from '../config/types.js';
import { SAFE_NAME } from '../config/schema.js';
import { resolveInRoot } from '../machine/inject.js';
import { PROVENANCE } from '../machine/paths.js';
import { readRecordInRoot, refuseLinkedDirs, type Read } from '../machine/record.js';
import { CODENAME } from '../mirror/suites.js';
import { openNoFollow } from '../safe-file.js';

/** Where apt inside a machine keeps its downloads (inside the machine's root). */
export const MACHINE_ARCHIVES = '/var/cache/apt/archives';

export { RECORD_MAX_BYTES, readRecordInRoot } from '../machine/record.js';

/** A machine's archive directory, resolved inside its root. */
export interface MachineArchive extends Archive {
  machine: string;
}

/** The codename a machine's provenance record gives, validated like configuration. */
export async function readProvenanceCodename(root: string): Promise<Read<string>> {
  const read = await readRecordInRoot(root, PROVENANCE);
  if (!read.ok) return read;
  let data: unknown;
  try {
    data = JSON.parse(read.value.toString('utf8'));
  } catch {
    return { ok: false, reason: `${PROVENANCE} is not JSON` };
  }
  const codename = typeof data === 'object' && data !== null ? (data as { codename?: unknown }).codename : undefined;
  // A codename names a suite: the project's one rule, the same as in configuration.
  if (typeof codename !== 'string' || !CODENAME.test(codename)) {
    return { ok: false, reason: `${PROVENANCE} gives the codename ${JSON.stringify(codename)?.slice(0, 80) ?? 'undefined'}, not a codename like "bookworm"` };
  }
  return { ok: true, value: codename };
}

/**
 * The machine's archive directory seen from the host, every symlink resolved
 * INSIDE the machine root (an absolute link in the container means the
 * container's /, not the host's). Refused (with the reason) unless it exists,
 * every directory on the resolved path is a real directory under the machine
 * root, and it opens as a directory without following a link: root in the
 * container must not make the host daemon list, watch or import host directories.
 */
export async function resolveMachineArchiveDir(machinesDir: string, name: string): Promise<{ ok: true; path: string } | { ok: false; reason: string }> {
  const root = join(machinesDir, name);
  try {
    const realRoot = await fsp.realpath(root);
    const inRoot = await resolveInRoot(root, MACHINE_ARCHIVES);
    const real = await fsp.realpath(inRoot).catch(() => undefined);
    if (!real) {
      // Followed symlinks on the way: say so (a link to a host path is resolved in the machine, never on the host).
      if (inRoot !== join(realRoot, MACHINE_ARCHIVES)) return { ok: false, reason: `${MACHINE_ARCHIVES} is a symbolic link; inside the machine it leads to ${inRoot}, which does not exist (not followed on the host)` };
      return { ok: false, reason: `${MACHINE_ARCHIVES} does not exist yet` };
    }
    if (!real.startsWith(`${realRoot}/`)) return { ok: false, reason: `${MACHINE_ARCHIVES} leads outside the machine root (${real}); not watched` };
    const linked = await refuseLinkedDirs(realRoot, real, MACHINE_ARCHIVES);
    if (linked) return { ok: false, reason: linked };
    const dir = await openNoFollow(real, 'directory');
    if (!dir.ok) return { ok: false, reason: `${MACHINE_ARCHIVES} is not a directory (${dir.failed === 'kind' ? 'ENOTDIR' : dir.code})` };
    await dir.fh.close();
    return { ok: true, path: real };
  } catch (err) {
    return { ok: false, reason: `${MACHINE_ARCHIVES} cannot be resolved (${err instanceof Error ? err.message : String(err)})` };
  }
}

/**
 * Machines nspawn-kit built under machinesDir: a directory (not hidden, so no
 * build in progress) with a safe name whose root holds a valid PROVENANCE
 * record, and whose archive directory resolves inside its root. A directory
 * without a record is not ours (skipped silently); a bad record, name or
 * archive directory goes to refuse. One machine never stops the others.
 */
export async function discoverMachineArchives(machinesDir: string, refuse?: (machine: string, reason: string) => void): Promise<Map<string, MachineArchive>> {
  const found = new Map<string, MachineArchive>();
  const entries = await fsp.readdir(machinesDir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
    try {
      if (!SAFE_NAME.test(entry.name) || entry.name.includes('..')) {
        refuse?.(JSON.stringify(entry.name), 'not a safe machine name (letters, digits, ".", "_", "-"); not watched');
        continue;
      }
      const root = join(machinesDir, entry.name);
      const codename = await readProvenanceCodename(root);
      if (!codename.ok) {
        if (!codename.absent) refuse?.(entry.name, codename.reason);
        continue;
      }
      const dir = await resolveMachineArchiveDir(machinesDir, entry.name);
      if (dir.ok) found.set(entry.name, { path: dir.path, codename: codename.value, machine: entry.name });
      else if (!dir.reason.endsWith('does not exist yet')) refuse?.(entry.name, dir.reason);
    } catch (err) {
      refuse?.(entry.name, `cannot be read (${err instanceof Error ? err.message : String(err)})`);
    }
  }
  return found;
}
