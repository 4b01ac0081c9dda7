/**
 * Mounting an overlay machine on the host: lower = its base, upper and work
 * under <stateDir>/overlay/<name>, mounted at <machines.dir>/<name>, so the
 * machine directory is a whole root for systemd-nspawn -D, machinectl, tar
 * and backups. nspawn-kit mounts it (idempotently) before anything runs the
 * machine and leaves it mounted; where systemd is PID 1 a generated .mount
 * unit does the same at boot (machine/overlay-units.ts).
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { OperationError } from '../errors.js';
import { exists, type Shell } from '../shell.js';
import { mountsUnder, unmountAll } from '../rootfs/builddir.js';
import { overlayMountCommand } from '../rootfs/overlay.js';
import { readMountInfo, topMountAt } from '../proc.js';
import { isMounted, type MachineHandle } from './handle.js';

type OverlayHandle = MachineHandle & { storage: Extract<MachineHandle['storage'], { kind: 'overlay' }> };

function isOverlay(handle: MachineHandle): handle is OverlayHandle {
  return handle.storage.kind === 'overlay';
}

/** The error of an overlay machine whose base is gone. */
export function missingBase(handle: MachineHandle, lower: string): OperationError {
  return new OperationError(
    `machine ${handle.name} is an overlay over the base ${lower}, which is missing`,
    `The machine's own changes are kept, but it cannot start without its base. Recreate it: \`nspawn-kit rm ${handle.name}\`, then \`nspawn-kit create <recipe> --name ${handle.name}\`.`,
  );
}

/**
 * Mounts the machine's overlay at its root unless it is mounted already.
 * Returns true when it mounted now. A copy machine is left alone.
 */
export async function ensureMounted(sh: Shell, handle: MachineHandle): Promise<boolean> {
  if (handle.storage.kind === 'legacy-overlay') {
    throw new OperationError(
      `machine ${handle.name} has the old overlay layout (its directory holds only its changes)`,
      `Move it to the new layout once with \`nspawn-kit migrate ${handle.name}\` (nothing is copied; the machine must be stopped).`,
    );
  }
  if (!isOverlay(handle) || (await isMounted(handle))) return false;
  const { lower, paths } = handle.storage;
  const { root } = handle;
  // A dry run plans the mount of a machine that a planned create has not made.
  if (!sh.dryRun && !(await exists(join(lower, 'etc')))) throw missingBase(handle, lower);
  if (!sh.dryRun && !(await exists(paths.upper))) {
    throw new OperationError(`machine ${handle.name} has no upper directory ${paths.upper}`, `An interrupted \`nspawn-kit migrate ${handle.name}\` finishes when run again; otherwise remove the machine with \`nspawn-kit rm ${handle.name}\`.`);
  }
  const real = await fsp.realpath(root).catch(() => undefined);
  if (real !== undefined) {
    const top = topMountAt(await readMountInfo(), real);
    if (top) throw new OperationError(`something else (${top.fsType} from ${top.source}) is mounted at ${root}`, `Unmount it (\`umount ${root}\`), then run the command again.`);
    // Mounting over files would hide them: they were written into the bare mount point.
    const inside = await fsp.readdir(root);
    if (inside.length) throw new OperationError(`${root} is not mounted but holds ${inside.length} entr${inside.length === 1 ? 'y' : 'ies'} (${inside.slice(0, 3).join(', ')})`, `Move them away, then run the command again; the machine itself is in ${paths.upper}.`);
  }
  await sh.mkdir(root, 0o755);
  // A work dir left by a crash is emptied by the kernel at mount; a deleted one is made again.
  await sh.mkdir(paths.work, 0o700);
  const res = await sh.write(overlayMountCommand(lower, paths.upper, paths.work, root), { nothrow: true });
  if (res.exitCode !== 0) {
    throw new OperationError(
      `could not mount machine ${handle.name} over its base ${lower}: ${(res.stderr || res.stdout).trim() || `mount exited with ${res.exitCode}`}`,
      'Check that the kernel has overlayfs (`modprobe overlay`) and that nothing else uses the machine\'s upper directory.',
    );
  }
  return !sh.dryRun;
}

/**
 * Unmounts the machine's overlay (and anything left mounted inside it).
 * Never lazily: the upper directory is about to be removed, so a busy mount
 * is an error that names what to look at.
 */
export async function unmountMachine(sh: Shell, handle: MachineHandle): Promise<string[]> {
  const done: string[] = [];
  const real = await fsp.realpath(handle.root).catch(() => undefined);
  if (real === undefined) return done;
  if (sh.dryRun) {
    // Planned, not run: the plan shows the unmount the real rm would do.
    if (topMountAt(await readMountInfo(), real)) await sh.write(['umount', ['--', real]]);
    return done;
  }
  // Leftovers inside (a crashed nspawn's binds) first, deepest first.
  for (const point of (await mountsUnder(real)).filter((p) => p !== real)) done.push(...(await unmountAll(sh, point)));
  for (let round = 0; round < 8 && topMountAt(await readMountInfo(), real); round++) {
    const res = await sh.write(['umount', ['--', real]], { nothrow: true });
    if (res.exitCode !== 0) {
      throw new OperationError(
        `could not unmount ${real}: ${(res.stderr || res.stdout).trim()}`,
        `Something keeps it busy: stop it (\`fuser -vm ${real}\` names it), then run the command again. Nothing was removed.`,
      );
    }
    done.push(real);
  }
  return done;
}
