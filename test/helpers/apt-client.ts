/**
 * A real apt client in a private root (see apt.ts) for one repository URL,
 * run without blocking the event loop: the HTTP server under test may live in
 * the test process itself.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { privateAptOptions } from './apt.js';

export interface AptRun {
  code: number | null;
  out: string;
}

/** Creates the private root under `dir`: one deb822 source for `uri` (`suites`, default bookworm; main) verified with `signedBy`. */
export function makeAptClient(dir: string, uri: string, signedBy: string, suites: string[] = ['bookworm']): string {
  for (const d of ['parts', 'state/lists/partial', 'cache/archives/partial', 'empty']) mkdirSync(join(dir, d), { recursive: true });
  writeFileSync(join(dir, 'status'), '');
  writeFileSync(join(dir, 'parts', 'mirror.sources'), ['Types: deb', `URIs: ${uri}`, `Suites: ${suites.join(' ')}`, 'Components: main', `Signed-By: ${signedBy}`, ''].join('\n'));
  return dir;
}

/** Runs apt-get (or apt-cache with tool='apt-cache') in the private root; `extra` are more `Name=value` options. */
export function aptRun(dir: string, args: string[], extra: string[] = ['Acquire::http::Proxy=false'], tool = 'apt-get'): Promise<AptRun> {
  return new Promise((resolve) => {
    const child = spawn(tool, [...privateAptOptions(dir, extra), ...args], { env: { ...process.env, LC_ALL: 'C' } });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.on('close', (code) => resolve({ code, out }));
  });
}

/** Problems in an apt-get update's output: errors, warnings, failed fetches, bad signatures, hash mismatches. */
export function aptProblems(out: string): string[] {
  return out.split('\n').filter((l) => /^(E|W|Err):|BADSIG|Hash Sum mismatch|signatures were invalid|NO_PUBKEY/.test(l));
}

/** The InRelease apt keeps in its lists (the one it verified), by file name suffix. */
export function listedInRelease(dir: string): Buffer | undefined {
  const lists = join(dir, 'state', 'lists');
  const name = readdirSync(lists).find((f) => f.endsWith('_dists_bookworm_InRelease'));
  return name ? readFileSync(join(lists, name)) : undefined;
}

/** The Package names of apt's Packages list for bookworm/main/amd64 (apt stores it uncompressed or lz4; read with apt-get indextargets). */
export async function listedPackages(dir: string): Promise<string[]> {
  const r = await aptRun(dir, ['indextargets', '--format', '$(FILENAME)', 'Identifier: Packages']);
  const file = r.out.trim().split('\n')[0];
  if (r.code !== 0 || !file) throw new Error(`apt-get indextargets: ${r.out}`);
  const text = await new Promise<string>((resolve) => {
    const child = spawn('/usr/lib/apt/apt-helper', ['cat-file', file]);
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.on('close', () => resolve(out));
  });
  return [...text.matchAll(/^Package: (\S+)$/gm)].map((m) => m[1] ?? '').sort();
}
