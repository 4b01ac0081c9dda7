/**
 * The archive directories an import lists: the admin's (listed by
 * listArchive) and the machines' (their files screened as a machine's). Whose
 * directory is which needs machine knowledge, so this layer does not decide
 * it: the caller hands in an ArchiveOwnerOf (triggers/archive-owner.ts
 * archiveOwner), and every trust rule that follows from the answer lives here.
 */
import { promises as fsp } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Archive } from '../config/types.js';
import { listArchive } from './archive-scan.js';
import type { ImportFile } from './import-files.js';
import type { ImportReport } from './import-state.js';
import { assertCodename } from './suites.js';

export type ArchiveOwner = { admin: true } | { admin: false; machine: string; codename: string; realDir: string } | { admin: false; refused: string };

/**
 * Whose files `dir` holds (machinesDir: config.machines.dir): the admin's, a
 * machine's (with the codename its provenance record gives and the real
 * directory), or refused with the reason.
 */
export type ArchiveOwnerOf = (machinesDir: string, dir: string) => Promise<ArchiveOwner>;

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
export async function listSources(ownerOf: ArchiveOwnerOf, machinesDir: string, archives: Archive[], pre: ImportReport, log?: (line: string) => void): Promise<{ admin: ImportFile[]; machine: ImportFile[] }> {
  const admin: ImportFile[] = [];
  const machine: ImportFile[] = [];
  for (const archive of archives) {
    assertCodename(archive.codename);
    const dir = resolve(archive.path);
    try {
      // A directory under machines.dir is a machine's, whoever configured it: its files pass the trust check.
      const owner = await ownerOf(machinesDir, dir);
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
