/**
 * `nspawn-kit migrate NAME`: an overlay machine of the old layout (its
 * directory is the overlay's upper directory, stacked over the base by
 * nspawn's Overlay=) moves to the host-mounted layout: the directory is
 * renamed to <stateDir>/overlay/<name>/upper (copied when the two are on
 * different file systems), the host record written, Overlay= dropped from
 * its settings files and the overlay mounted at <machines.dir>/<name>.
 *
 * The record is written first, so an interrupted migration is a machine
 * whose upper directory is still at its old place: running the command again
 * finishes it. The old directory is removed only once the upper is complete.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { OperationError } from '../errors.js';
import { exists } from '../shell.js';
import { nspawnPids } from './boot.js';
import type { MachineContext } from './create.js';
import { resolveMachine, type MachineHandle } from './handle.js';
import { besideRootSettingsFile, writeMountUnits } from './nspawn-file.js';
import { overlayMountSpec } from './overlay-units.js';
import { ensureMounted, missingBase } from './overlay-mount.js';
import { overlayPaths, renderOverlayRecord, type OverlayPaths } from './overlay-state.js';
import { readProvenance } from './provenance.js';
import { serviceDropInDir } from './nspawn-argv.js';

export interface MigrateReport {
  name: string;
  migrated: boolean;
  /** Why nothing was done. */
  reason?: string;
  /** Where the machine's own files are now. */
  upper?: string;
}

/** Settings lines of the old layout: nspawn must not stack the base again over a whole root. */
export function dropOverlayLines(text: string): string {
  return text
    .split('\n')
    .filter((l) => !l.startsWith('Overlay=') && !l.startsWith("# This directory holds only the machine's changes"))
    .join('\n');
}

/** The old directory becomes the upper directory: a rename, or a copy across file systems. */
async function moveUpper(ctx: MachineContext, from: string, paths: OverlayPaths): Promise<void> {
  const { sh } = ctx;
  try {
    await sh.rename(from, paths.upper);
    return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
  }
  const partial = `${paths.upper}.partial`;
  await sh.remove(partial);
  await sh.mkdir(partial, 0o755);
  await sh.write(['cp', ['-a', '--reflink=auto', '--', `${from}/.`, partial]], { hint: `Free space under ${paths.state}, then run \`nspawn-kit migrate\` again.` });
  await sh.rename(partial, paths.upper);
  await sh.remove(from);
}

async function rewriteSettings(ctx: MachineContext, name: string): Promise<void> {
  const { sh, config } = ctx;
  for (const file of new Set([join(config.machines.settingsDir, `${name}.nspawn`), besideRootSettingsFile(config, name)])) {
    const text = await fsp.readFile(file, 'utf8').catch(() => undefined);
    if (text !== undefined && text !== dropOverlayLines(text)) await sh.writeFile(file, dropOverlayLines(text), 0o644);
  }
}

/** The rest of a migration, once the record exists: move the directory, fix the settings, mount. */
async function finish(ctx: MachineContext, handle: MachineHandle & { storage: { kind: 'overlay' } }): Promise<MigrateReport> {
  const { sh, config } = ctx;
  const { paths } = handle.storage;
  if (!(await exists(paths.upper))) await moveUpper(ctx, handle.root, paths);
  await rewriteSettings(ctx, handle.name);
  await ensureMounted(sh, handle);
  if (config.host.systemdPid1) {
    const spec = overlayMountSpec(handle);
    if (spec) await writeMountUnits(sh, config.machines.unitDir, serviceDropInDir(config.machines.unitDir, handle.name), spec);
    await sh.write(['systemctl', ['daemon-reload']], { hint: 'Run `systemctl daemon-reload` yourself.' });
  }
  return { name: handle.name, migrated: true, upper: paths.upper };
}

export async function migrateMachine(ctx: MachineContext, name: string): Promise<MigrateReport> {
  const { sh, config } = ctx;
  const handle = await resolveMachine(config, name);
  const pids = await nspawnPids(handle.root);
  if (pids.length) throw new OperationError(`machine ${name} is running (systemd-nspawn pid ${pids.join(', ')})`, 'Power it off first, then run the command again.');
  const { storage } = handle;
  if (storage.kind === 'overlay') {
    // Interrupted after the record: the old directory is still where the mount point goes.
    if (!(await exists(storage.paths.upper)) && (await exists(join(handle.root, 'etc')))) return finish(ctx, { ...handle, storage });
    await ensureMounted(sh, handle);
    return { name, migrated: false, reason: 'already in the host-mounted layout' };
  }
  if (storage.kind === 'copy') {
    if (!(await exists(join(handle.root, 'etc')))) throw new OperationError(`no machine ${name} under ${config.machines.dir}`, '`nspawn-kit list` shows the machines.');
    return { name, migrated: false, reason: 'a full copy: nothing to migrate' };
  }
  if (!(await exists(join(storage.lower, 'etc')))) throw missingBase(handle, storage.lower);
  const prov = await readProvenance(handle.root);
  if (!prov) throw new OperationError(`machine ${name} has no provenance record`, 'Recreate it.');
  const paths = overlayPaths(config, name);
  // A state directory without a record is what an interrupted copy left: the old directory is still whole.
  await sh.remove(paths.state);
  await sh.mkdir(paths.state, 0o700);
  await sh.mkdir(paths.work, 0o700);
  await sh.writeFile(paths.record, renderOverlayRecord({ version: 1, machine: name, recipe: prov.recipe, base: storage.base }), 0o644);
  return finish(ctx, { ...handle, storage: { kind: 'overlay', recipe: prov.recipe, base: storage.base, lower: storage.lower, paths } });
}
