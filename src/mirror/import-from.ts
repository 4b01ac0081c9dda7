/**
 * `mirror import --from DIR`: the one directory the user named must be a
 * directory, else it is a usage error naming it (exit 2). The configured
 * mirror.archives stay lenient (a missing one is a warning, import.ts): the
 * default /var/cache/apt/archives, or a machine's, may simply not exist yet,
 * and the watcher and the nightly refresh must not fail for it.
 */
import { statSync } from 'node:fs';
import { UsageError } from '../errors.js';
import { quoteValue } from '../config/issues.js';

export function assertImportDir(dir: string): void {
  let st;
  try {
    st = statSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'cannot be read (permission denied)' : `cannot be read (${code})`;
    throw new UsageError(`--from ${quoteValue(dir)}: the directory ${why}`, 'Give --from the directory that holds the .debs to import (e.g. /var/cache/apt/archives).');
  }
  if (!st.isDirectory()) {
    throw new UsageError(`--from ${quoteValue(dir)}: not a directory`, 'Give --from the directory that holds the .debs to import (e.g. /var/cache/apt/archives), not a file.');
  }
}
