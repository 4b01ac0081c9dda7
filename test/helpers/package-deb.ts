/**
 * The nspawn-kit .deb for tests: built with `npm run deb`'s script into a
 * directory the test owns (NSPAWN_KIT_DEB_OUT), or the file named by
 * NSPAWN_KIT_TEST_DEB when a run has built one already. Needs build-essential,
 * debhelper and nodejs with npm (the test package list).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './cli.js';

export interface BuiltDeb {
  /** Absolute path of nspawn-kit_<version>_all.deb. */
  deb: string;
  /** Seconds the build took (0 when NSPAWN_KIT_TEST_DEB was given). */
  seconds: number;
  /** Whether this call built it. */
  built: boolean;
}

export function packageDeb(outDir: string): BuiltDeb {
  const given = process.env.NSPAWN_KIT_TEST_DEB;
  if (given) return { deb: given, seconds: 0, built: false };
  const started = Date.now();
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build-deb.mjs')], {
    cwd: ROOT,
    env: { ...process.env, NSPAWN_KIT_DEB_OUT: outDir },
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    timeout: 900_000,
  });
  if (r.status !== 0) throw new Error(`npm run deb failed (exit ${r.status ?? r.signal}):\n${r.stderr.slice(-4000)}`);
  return { deb: r.stdout.trim(), seconds: (Date.now() - started) / 1000, built: true };
}
