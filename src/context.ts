/** What every command receives: the resolved configuration and the one Shell. */
import { loadConfig } from './config/load.js';
import type { Config } from './config/types.js';
import { logToStderr } from './escape.js';
import { Shell } from './shell.js';

export interface GlobalOptions {
  config?: string;
  dryRun?: boolean;
  verbose?: boolean;
  json?: boolean;
}

export interface AppContext {
  config: Config;
  sh: Shell;
  opts: GlobalOptions;
  /** Progress and status lines for the user (stderr, so stdout stays machine-readable; neutralized: escape.ts). */
  log: (line: string) => void;
}

export async function createContext(opts: GlobalOptions): Promise<AppContext> {
  const config = await loadConfig({ configFile: opts.config });
  const log = logToStderr;
  const sh = new Shell({ dryRun: opts.dryRun, verbose: opts.verbose, log });
  return { config, sh, opts, log };
}
