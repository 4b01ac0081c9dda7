/** Runs the CLI from source (tsx), as a user would run the bin. */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = dirname(dirname(dirname(fileURLToPath(import.meta.url))));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** dist/cli.js when `npm test` built it (faster), else the TypeScript source through tsx. */
export function entry(): string[] {
  const built = join(ROOT, 'dist', 'cli.js');
  if (process.env.NSPAWN_KIT_TEST_DIST === '1' && existsSync(built)) return [built];
  return ['--import', join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs'), join(ROOT, 'src', 'cli.ts')];
}

export function cli(args: string[], opts: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {}): CliResult {
  const r = spawnSync(process.execPath, [...entry(), ...args], {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, ...opts.env },
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 600_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
