/** Runs the CLI from source (tsx), as a user would run the bin. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = dirname(dirname(dirname(fileURLToPath(import.meta.url))));

/**
 * An empty system configuration directory (NSPAWN_KIT_CONFIG_DIR) for every
 * CLI and script run of the tests: they never read the host's /etc/nspawn-kit.
 * A test that wants one passes its own in `env`.
 */
export const EMPTY_CONFIG_DIR = mkdtempSync(join(tmpdir(), 'nk-no-etc-'));
process.on('exit', () => rmSync(EMPTY_CONFIG_DIR, { recursive: true, force: true }));

/** The environment of a CLI run: this process's, the empty configuration directory, then the test's own. */
export function cliEnv(env: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, NSPAWN_KIT_CONFIG_DIR: EMPTY_CONFIG_DIR, ...env };
}

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

/** `uid`/`gid`: run as that user (the test runs as root). */
export function cli(args: string[], opts: { cwd?: string; env?: Record<string, string>; timeoutMs?: number; uid?: number; gid?: number } = {}): CliResult {
  const r = spawnSync(process.execPath, [...entry(), ...args], {
    cwd: opts.cwd ?? ROOT,
    uid: opts.uid,
    gid: opts.gid,
    env: cliEnv(opts.env),
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 600_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
