/** Small real .deb fixtures built with dpkg-deb at test time. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface DebSpec {
  name: string;
  version?: string;
  arch?: string;
  depends?: string;
  source?: string;
  /** Bytes of payload (a file under /usr/share/<name>/). */
  payloadBytes?: number;
  /** Extra text in the payload, to make different bytes for the same version. */
  salt?: string;
}

/** Builds NAME_VERSION_ARCH.deb into outDir (or `fileName` there) and returns its path. */
export function makeDeb(outDir: string, spec: DebSpec, fileName?: string): string {
  const version = spec.version ?? '1.0-1';
  const arch = spec.arch ?? 'amd64';
  const work = mkdtempSync(join(tmpdir(), 'nk-deb-'));
  try {
    mkdirSync(join(work, 'DEBIAN'));
    const control = [
      `Package: ${spec.name}`,
      `Version: ${version}`,
      `Architecture: ${arch}`,
      'Maintainer: nspawn-kit tests <tests@example.invalid>',
      ...(spec.source ? [`Source: ${spec.source}`] : []),
      ...(spec.depends ? [`Depends: ${spec.depends}`] : []),
      'Section: misc',
      'Priority: optional',
      `Description: test package ${spec.name}`,
      ' Built at test time by nspawn-kit.',
      '',
    ].join('\n');
    writeFileSync(join(work, 'DEBIAN', 'control'), control);
    const share = join(work, 'usr', 'share', spec.name);
    mkdirSync(share, { recursive: true });
    const filler = 'x'.repeat(spec.payloadBytes ?? 64);
    writeFileSync(join(share, 'payload'), `${spec.name} ${version} ${spec.salt ?? ''}\n${filler}\n`);
    mkdirSync(outDir, { recursive: true });
    const out = join(outDir, fileName ?? `${spec.name}_${version.replace(/^\d+:/, '')}_${arch}.deb`);
    execFileSync('dpkg-deb', ['-Zgzip', '-z1', '--root-owner-group', '--build', work, out], { stdio: 'ignore' });
    return out;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Many distinct packages (for scale tests and benchmarks). */
export function makeDebs(outDir: string, count: number, prefix = 'pkg'): string[] {
  const paths: string[] = [];
  for (let i = 0; i < count; i++) paths.push(makeDeb(outDir, { name: `${prefix}${i}` }));
  return paths;
}
