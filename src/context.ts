/** What every command receives: the resolved configuration and the one Shell. */
import { loadConfig } from './config/load.js';
import type { Config } from './config/types.js';
import { outputSinks } from './progress.js';
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
  /** Status lines for the user (stderr, so stdout stays machine-readable; neutralized: escape.ts; JSON event lines under --json). Progress: sh.progress. */
  log: (line: string) => void;
}

export async function createContext(opts: GlobalOptions): Promise<AppContext> {
  const config = await loadConfig({ configFile: opts.config });
  // Plain lines on stderr, or JSON event lines under --json (progress.ts).
  const { log, progress } = outputSinks({ json: opts.json });
  const sh = new Shell({ dryRun: opts.dryRun, verbose: opts.verbose, log, progress });
  return { config, sh, opts, log };
}
