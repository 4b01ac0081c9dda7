/**
 * The nspawn-kit .deb for end-to-end tests: the file named by
 * NSPAWN_KIT_TEST_DEB (a runner that built it once), else built here with the
 * checkout's own builder (`npm run deb` = scripts/build-deb.mjs) into a
 * directory of the test's temp tree; and what its control file asks of apt.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './cli.js';

export type DebSource = { deb: string; how: string; seconds: number } | { skip: string };

const has = (tool: string): boolean => spawnSync('sh', ['-c', 'command -v "$1"', 'sh', tool]).status === 0;

const BUILDER = join(ROOT, 'scripts', 'build-deb.mjs');

/** Why `npm run deb` cannot run here (undefined: it can, or NSPAWN_KIT_TEST_DEB names the .deb). */
export function noDebBuild(): string | undefined {
  if (process.env.NSPAWN_KIT_TEST_DEB) return undefined;
  if (!existsSync(BUILDER)) return `this checkout has no .deb builder (${BUILDER}, npm run deb)`;
  const missing = ['dpkg-buildpackage', 'dh'].filter((t) => !has(t));
  if (missing.length) return `${missing.join(', ')} not installed (apt-get install dpkg-dev debhelper), so npm run deb cannot build the .deb`;
  return undefined;
}

/**
 * The .deb to test, or why there is none (a reason to print with the skip).
 * Asynchronous: the build (about 1.5 minutes on 2 cores, mostly tsc and npm
 * ci) can run while the test warms its mirror.
 */
export async function nspawnKitDeb(outDir: string): Promise<DebSource> {
  const given = process.env.NSPAWN_KIT_TEST_DEB;
  if (given) {
    if (!existsSync(given)) throw new Error(`NSPAWN_KIT_TEST_DEB=${given}: no such file`);
    return { deb: given, how: `NSPAWN_KIT_TEST_DEB`, seconds: 0 };
  }
  const why = noDebBuild();
  if (why) return { skip: why };
  const started = Date.now();
  const child = spawn(process.execPath, [BUILDER], { cwd: ROOT, env: { ...process.env, NSPAWN_KIT_DEB_OUT: outDir }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-8000)));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  if (code !== 0) throw new Error(`npm run deb failed (exit ${code}):\n${stderr.slice(-3000)}`);
  const deb = stdout.trim().split('\n').pop() ?? '';
  if (!deb.startsWith(outDir) || !existsSync(deb)) throw new Error(`npm run deb printed ${JSON.stringify(deb)}, not a .deb under ${outDir}`);
  return { deb, how: 'npm run deb', seconds: (Date.now() - started) / 1000 };
}

/** A control field of a .deb, as dpkg-deb reads it ('' when absent). */
export function debField(deb: string, field: string): string {
  const r = spawnSync('dpkg-deb', ['--field', '--', deb, field], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`dpkg-deb --field ${deb} ${field}: ${r.stderr}`);
  return r.stdout.trim();
}

/**
 * Package names of a relation field ("a (>= 1), b | c, d:any"): each
 * alternative group's first package, version and architecture qualifiers
 * dropped; what apt would pick for it when the mirror offers only that.
 */
export function relationNames(field: string): string[] {
  return field
    .split(',')
    .map((group) => (group.split('|')[0] ?? '').trim().replace(/\s*\(.*\)$/, '').replace(/:\S+$/, '').trim())
    .filter(Boolean);
}
