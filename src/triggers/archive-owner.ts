/**
 * Whose files an archive directory holds, decided here, above the mirror
 * layer, because it needs machine knowledge. A directory handed to the
 * importer by path (`mirror import --from`, a mirror.archives entry) that lies
 * under machines.dir holds files root in that machine wrote. It is never the
 * admin's, whoever named it: its files are tagged as the machine's (the
 * machine name from the path, the codename from the machine's provenance
 * record, read like the watcher reads it: machine-archives.ts) and pass the
 * same trust check as the watcher's (mirror/machine-files.ts). "Under
 * machines.dir" is decided on the path as given and on its real path, so a
 * symlink on either side hides no machine. The importer receives this
 * function (mirror/machine-source.ts ArchiveOwnerOf) from its callers.
 */
import { promises as fsp } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { refuseLinkedDirs } from '../machine/record.js';
import type { ArchiveOwner } from '../mirror/machine-source.js';
import { readProvenanceCodename } from './machine-archives.js';

/** The first path component of `path` below `base`, or undefined when it is not below. */
function firstBelow(path: string, base: string): string | undefined {
  const rel = relative(base, path);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return undefined;
  return rel.split(sep)[0];
}

/** Whose files `dir` holds: the admin's, or a machine's (with its codename), or refused with the reason. */
export async function archiveOwner(machinesDir: string, dir: string): Promise<ArchiveOwner> {
  const lexical = resolve(dir);
  const machines = resolve(machinesDir);
  const realMachines = await fsp.realpath(machines).catch(() => machines);
  const real = await fsp.realpath(lexical).catch(() => undefined);
  const name = firstBelow(lexical, machines) ?? firstBelow(lexical, realMachines) ?? (real ? firstBelow(real, realMachines) : undefined);
  if (name === undefined) return { admin: true };
  const label = `${lexical} (in machine ${name})`;
  const realRoot = await fsp.realpath(join(realMachines, name)).catch(() => undefined);
  if (!real || !realRoot) return { admin: false, refused: `${label}: does not exist` };
  if (!real.startsWith(`${realRoot}/`)) return { admin: false, refused: `${label}: leads outside the machine's root (${real}); not imported` };
  const linked = await refuseLinkedDirs(realRoot, real, label);
  if (linked) return { admin: false, refused: linked };
  const codename = await readProvenanceCodename(realRoot);
  if (!codename.ok) return { admin: false, refused: `${label}: ${codename.reason}; a machine's files are imported only under the codename its provenance record gives` };
  return { admin: false, machine: name, codename: codename.value, realDir: real };
}
