/**
 * An archive directory handed to the importer by path (`mirror import --from`,
 * or a mirror.archives entry) that lies under machines.dir holds files root
 * in that machine wrote. It is never the admin's, whoever named it: its files
 * are tagged as the machine's (the machine name from the path, the codename
 * from the machine's provenance record, read like the watcher reads it) and
 * pass the same trust check as the watcher's (machine-files.ts). "Under
 * machines.dir" is decided on the path as given and on its real path, so a
 * symlink on either side hides no machine.
 */
import { promises as fsp } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { refuseLinkedDirs } from '../machine/record.js';
import { readProvenanceCodename } from '../triggers/machine-archives.js';
import type { Archive } from '../config/types.js';
import { listArchive } from './archive-scan.js';
import type { ImportFile } from './import-files.js';
import type { ImportReport } from './import-state.js';
import { assertCodename } from './suites.js';

export type ArchiveOwner = { admin: true } | { admin: false; machine: string; codename: string; realDir: string } | { admin: false; refused: string };

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

/** The .deb entries of a machine's directory, as machine files (screenFiles refuses links, FIFOs and bad names). */
export async function machineDirFiles(owner: { machine: string; codename: string; realDir: string }): Promise<ImportFile[]> {
  const names = (await fsp.readdir(owner.realDir)).filter((n) => n.endsWith('.deb')).sort();
  return names.map((n) => ({ path: join(owner.realDir, n), codename: owner.codename, machine: owner.machine }));
}

/**
 * The files of the archive directories to import: the admin's (listed by
 * listArchive, in-directory links resolved once) and the machines' (to be
 * screened as a machine's). Problems go to `pre` (warnings, or rejected links).
 */
export async function listSources(machinesDir: string, archives: Archive[], pre: ImportReport, log?: (line: string) => void): Promise<{ admin: ImportFile[]; machine: ImportFile[] }> {
  const admin: ImportFile[] = [];
  const machine: ImportFile[] = [];
  for (const archive of archives) {
    assertCodename(archive.codename);
    const dir = resolve(archive.path);
    try {
      // A directory under machines.dir is a machine's, whoever configured it: its files pass the trust check.
      const owner = await archiveOwner(machinesDir, dir);
      if (!owner.admin) {
        if ('refused' in owner) pre.warnings.push(`${owner.refused}; skipped`);
        else if (owner.codename !== archive.codename) pre.warnings.push(`${dir}: machine ${owner.machine}'s files go only into ${owner.codename} (its provenance record), not ${archive.codename}; skipped`);
        else machine.push(...(await machineDirFiles(owner)));
        continue;
      }
      const { files: found, escaping, targets, realDir } = await listArchive(dir);
      admin.push(...found.map((path) => ({ path, codename: archive.codename, realDir, ...(targets.has(path) ? { openPath: targets.get(path) } : {}) })));
      for (const path of escaping) pre.rejected.push({ file: path, reason: 'symbolic link leading outside the archive directory (not followed)' });
      log?.(`${dir}: ${found.length} .deb file(s) for ${archive.codename}`);
    } catch (err) {
      pre.warnings.push(`${dir}: cannot list (${(err as NodeJS.ErrnoException).code ?? String(err)}); skipped`);
    }
  }
  return { admin, machine };
}
