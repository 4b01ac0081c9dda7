/**
 * Units for an overlay machine where systemd is PID 1: a .mount unit that
 * mounts the overlay at <machines.dir>/<name> (so it is there after a
 * reboot, before machines.target starts the machine), and a drop-in for
 * systemd-nspawn@<name>.service with RequiresMountsFor= on that directory.
 * Pure text; nspawn-file.ts writes them.
 */
import { posix } from 'node:path';
import type { MachineHandle } from './handle.js';
import { assertSingleLine, systemdWord } from './render.js';

const PLAIN = /[A-Za-z0-9:_.]/;

/** systemd-escape --path: "/var/lib/machines/my-box" -> "var-lib-machines-my\x2dbox". */
export function systemdEscapePath(path: string): string {
  const trimmed = posix.normalize(path).replace(/^\/+|\/+$/g, '');
  if (trimmed === '') return '-';
  return trimmed
    .split('/')
    .map((part, p) =>
      [...Buffer.from(part, 'utf8')]
        .map((byte, i) => {
          const ch = String.fromCharCode(byte);
          // Only a leading "." of the whole name is escaped (a hidden unit file otherwise).
          return byte < 0x80 && PLAIN.test(ch) && !(p === 0 && i === 0 && ch === '.') ? ch : `\\x${byte.toString(16).padStart(2, '0')}`;
        })
        .join(''),
    )
    .join('-');
}

export function mountUnitName(where: string): string {
  return `${systemdEscapePath(where)}.mount`;
}

/** "%" starts a specifier in unit files: a path with one means the character itself. */
function unitValue(value: string, what: string): string {
  return assertSingleLine(value, what).replace(/%/g, '%%');
}

export interface OverlayMountSpec {
  machine: string;
  where: string;
  lower: string;
  upper: string;
  work: string;
}

/** The .mount unit's facts of an overlay machine (undefined for a copy). */
export function overlayMountSpec(handle: MachineHandle): OverlayMountSpec | undefined {
  const { storage } = handle;
  if (storage.kind !== 'overlay') return undefined;
  return { machine: handle.name, where: handle.root, lower: storage.lower, upper: storage.paths.upper, work: storage.paths.work };
}

export function renderMountUnit(spec: OverlayMountSpec): string {
  const options = `lowerdir=${spec.lower},upperdir=${spec.upper},workdir=${spec.work}`;
  return [
    `# Written by nspawn-kit: machine ${spec.machine}, its changes over its read-only base.`,
    '[Unit]',
    `Description=nspawn-kit machine ${spec.machine} (overlay over its base)`,
    '',
    '[Mount]',
    'What=overlay',
    `Where=${unitValue(spec.where, 'machine directory')}`,
    'Type=overlay',
    `Options=${unitValue(options, 'overlay options')}`,
    '',
  ].join('\n');
}

/** Drop-in of systemd-nspawn@<machine>.service: the machine starts only on its mounted overlay. */
export function renderMountDropIn(where: string): string {
  return `# Written by nspawn-kit: the machine directory is an overlay mount.\n[Unit]\nRequiresMountsFor=${systemdWord(where)}\n`;
}
