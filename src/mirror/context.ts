/**
 * What every mirror operation gets: the one Shell (dry-run, logging), the
 * resolved configuration, an optional progress sink and an abort signal.
 * Shared by the ingest side (import, gc, warm, apt-move) and the publishing
 * side (ftparchive, release, publish, verify, status, serve).
 */
import type { Config } from '../config/types.js';
import type { AppContext } from '../context.js';
import { neutralizeLine } from '../escape.js';
import type { Shell } from '../shell.js';

export interface MirrorContext {
  sh: Shell;
  config: Config;
  /** Progress lines (a listr2 task's output, or stderr); a sink neutralizes what it prints (escape.ts). */
  log?: (line: string) => void;
  signal?: AbortSignal;
}

/** ctx.log, or nothing; the line made safe for a terminal (file names are in it). */
export function progress(ctx: MirrorContext, line: string): void {
  ctx.log?.(neutralizeLine(line));
}

/** A command's context seen as a mirror operation's (the app's Shell, configuration and log). */
export function mirrorContext(app: AppContext): MirrorContext {
  return { sh: app.sh, config: app.config, log: app.log };
}
