/** The one rule for machine names (a path component under machines.dir and <stateDir>/overlay). */
import { SAFE_NAME } from '../config/schema.js';
import { UsageError } from '../errors.js';

export function assertMachineName(name: string): void {
  if (!SAFE_NAME.test(name) || name.includes('..')) {
    throw new UsageError(`invalid machine name ${JSON.stringify(name)}`, 'Use letters, digits, ".", "_" and "-", not starting with "-" or ".".');
  }
}
