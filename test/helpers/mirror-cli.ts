/** A throwaway mirror driven through the real CLI: archives, mirror root, state dir and config in one temp dir. */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from './cli.js';

export function cliMirror(prefix: string) {
  const base = mkdtempSync(join(tmpdir(), prefix));
  const archives = join(base, 'archives');
  const root = join(base, 'mirror');
  const state = join(base, 'state');
  const cfg = join(base, 'nspawnrc.json');
  mkdirSync(archives);
  writeFileSync(cfg, JSON.stringify({ stateDir: state, mirror: { root, archives: [{ path: archives, codename: 'bookworm' }] }, machines: { dir: join(base, 'machines') } }));
  const run = (...args: string[]) => cli(['--config', cfg, ...args], { cwd: base, env: { NO_COLOR: '1' } });
  return { base, archives, root, state, cfg, run };
}
