/** Runs a zx task script as a user would (`npx zx tasks/NAME.mjs ...`); needs dist/ (npm test builds it). */
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { cliEnv, ROOT, type CliResult } from './cli.js';

const ZX = join(ROOT, 'node_modules', 'zx', 'build', 'cli.js');

export function zxScript(script: string, args: string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}): CliResult {
  const r = spawnSync(process.execPath, [ZX, join(ROOT, script), ...args], {
    cwd: ROOT,
    env: cliEnv({ CI: 'true', ...opts.env }),
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 1_800_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Same, asynchronously, so a test can signal it mid-run. */
export function zxSpawn(script: string, args: string[], env: Record<string, string> = {}) {
  return spawn(process.execPath, [ZX, join(ROOT, script), ...args], { cwd: ROOT, env: cliEnv({ CI: 'true', ...env }), stdio: ['ignore', 'pipe', 'pipe'] });
}
