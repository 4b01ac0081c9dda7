/**
 * The nspawn-kit .deb for end-to-end tests: the file named by
 * NSPAWN_KIT_TEST_DEB (a runner that built it once), else built here with the
 * checkout's own builder (`npm run deb` = scripts/build-deb.mjs) into a
 * directory of the test's temp tree; and what its control file asks of apt.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './cli.js';

export type DebSource = { deb: string; how: string; seconds: number } | { skip: string };

const has = (tool: string): boolean => spawnSync('sh', ['-c', 'command -v "$1"', 'sh', tool]).status === 0;

/** The .deb to test, or why there is none (a reason to print with the skip). */
export function nspawnKitDeb(outDir: string): DebSource {
  const given = process.env.NSPAWN_KIT_TEST_DEB;
  if (given) {
    if (!existsSync(given)) throw new Error(`NSPAWN_KIT_TEST_DEB=${given}: no such file`);
    return { deb: given, how: `NSPAWN_KIT_TEST_DEB`, seconds: 0 };
  }
  const builder = join(ROOT, 'scripts', 'build-deb.mjs');
  if (!existsSync(builder)) return { skip: `this checkout has no .deb builder (${builder}, npm run deb)` };
  const missing = ['dpkg-buildpackage', 'dh'].filter((t) => !has(t));
  if (missing.length) return { skip: `${missing.join(', ')} not installed (apt-get install dpkg-dev debhelper), so npm run deb cannot build the .deb` };
  const started = Date.now();
  const r = spawnSync(process.execPath, [builder], { cwd: ROOT, env: { ...process.env, NSPAWN_KIT_DEB_OUT: outDir }, encoding: 'utf8', timeout: 900_000 });
  if (r.status !== 0) throw new Error(`npm run deb failed (exit ${r.status ?? r.signal}):\n${(r.stderr ?? '').slice(-3000)}`);
  const deb = r.stdout.trim().split('\n').pop() ?? '';
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
