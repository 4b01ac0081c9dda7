/**
 * Runs a command in a private mount namespace (root only) where each named
 * tool is hidden: a non-executable empty file is bound over it wherever PATH
 * or Debian's root PATH would find it, and the run stops with exit 99 if the
 * shell still finds one. Prints "hidden" on stderr before the command starts.
 * Nothing changes outside the namespace.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './cli.js';

const SCRIPT = [
  'set -e',
  'blank=$1 tools=$2; shift 2',
  'for tool in $tools; do',
  '  for d in $(printf %s "$PATH" | tr : " ") /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do',
  '    if [ -e "$d/$tool" ]; then mount --bind -- "$blank" "$d/$tool"; fi',
  '  done',
  '  if command -v "$tool" >/dev/null; then echo "still found: $tool" >&2; exit 99; fi',
  'done',
  'echo hidden >&2',
  'exec "$@"',
].join('\n');

export function runWithToolsHidden(tools: readonly string[], argv: readonly string[], opts: { timeoutMs?: number } = {}): SpawnSyncReturns<string> {
  const dir = mkdtempSync(join(tmpdir(), 'nk-hide-tools-'));
  try {
    const blank = join(dir, 'blank');
    writeFileSync(blank, '', { mode: 0o644 });
    return spawnSync('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', SCRIPT, 'sh', blank, tools.join(' '), ...argv], {
      cwd: ROOT,
      encoding: 'utf8',
      ...(opts.timeoutMs ? { timeout: opts.timeoutMs } : {}),
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
