/**
 * The one rule for machine names. A machine name is a path component under
 * machines.dir and <stateDir>/overlay, an argv word, and the name
 * systemd-nspawn (--machine=) and machined register: systemd accepts only a
 * valid host name there (machine_name_is_valid = hostname_is_valid of
 * src/basic/hostname-util.c): non-empty, at most 64 characters
 * (HOST_NAME_MAX), labels of ASCII letters, digits and "-" separated by
 * single dots, no label starting or ending with "-", no leading or trailing
 * dot. Checked before anything runs, so systemd never refuses a name we built.
 */
import { SAFE_NAME } from '../config/schema.js';
import { UsageError } from '../errors.js';
import { quoteValue } from '../config/issues.js';

/** HOST_NAME_MAX on Linux. */
export const MACHINE_NAME_MAX = 64;

export const MACHINE_NAME_RULE =
  'a machine name must be a valid host name, as systemd-nspawn requires: ASCII letters, digits and "-" in labels separated by single ".", no label starting or ending with "-", at most 64 characters (no "_")';

const LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$/;

/** Whether systemd's machine_name_is_valid() accepts `name`. */
export function isMachineName(name: string): boolean {
  return name.length > 0 && name.length <= MACHINE_NAME_MAX && name.split('.').every((label) => LABEL.test(label));
}

export function assertMachineName(name: string): void {
  if (!isMachineName(name)) throw new UsageError(`invalid machine name ${quoteValue(name)}: ${MACHINE_NAME_RULE}`, `Pick a valid name, e.g. ${suggestion(name)}.`);
}

/**
 * The weaker rule of a name that is only used as a path component (the
 * machine's directory under machines.dir, looked at by `list`): safe as a
 * path component and an argv word. A directory there with a name systemd
 * would refuse (made by hand or by an older version) is still listed with
 * its problem, not an error; every command given a NAME checks the full
 * rule above first.
 */
export function assertMachinePathName(name: string): void {
  if (!SAFE_NAME.test(name) || name.includes('..')) {
    throw new UsageError(`invalid machine name ${quoteValue(name)}`, 'Use letters, digits, ".", "_" and "-", not starting with "-" or ".".');
  }
}

/** A valid machine name close to `name`, for a hint. */
function suggestion(name: string): string {
  const s = name.replace(/[^A-Za-z0-9.-]+/g, '-').replace(/\.[-.]*/g, '.').replace(/-*\.-*/g, '.').replace(/^[-.]+|[-.]+$/g, '').slice(0, MACHINE_NAME_MAX).replace(/[-.]+$/, '');
  return isMachineName(s) ? s : 'my-machine';
}

/**
 * The name of a machine create builds: --name, else the recipe's name, which
 * may be a valid recipe name (it may hold "_") but no machine name.
 */
export function machineNameFor(given: string | undefined, recipeName: string): string {
  if (given !== undefined) {
    assertMachineName(given);
    return given;
  }
  if (!isMachineName(recipeName)) {
    throw new UsageError(
      `recipe ${quoteValue(recipeName)} is no valid machine name, and the machine is named after its recipe unless --name is given: ${MACHINE_NAME_RULE}`,
      `Pass a machine name with --name, e.g. --name ${suggestion(recipeName)}.`,
    );
  }
  return recipeName;
}
