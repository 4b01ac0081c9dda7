/** Small real .deb fixtures built with dpkg-deb at test time. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
  /** The control file's Priority and Section (default optional, misc). */
  priority?: string;
  section?: string;
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
      `Section: ${spec.section ?? 'misc'}`,
      `Priority: ${spec.priority ?? 'optional'}`,
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

// ---- hand-made ar archives (hostile .debs) ----

export interface ArPart {
  name: string;
  data: Buffer;
}

/** The members of an ar archive made by dpkg-deb (which writes only well-formed ones). */
export function arMembers(buf: Buffer): ArPart[] {
  const out: ArPart[] = [];
  for (let o = 8; o < buf.length; ) {
    const name = buf.subarray(o, o + 16).toString('latin1').trim().replace(/\/$/, '');
    const size = Number(buf.subarray(o + 48, o + 58).toString('latin1').trim());
    out.push({ name, data: buf.subarray(o + 60, o + 60 + size) });
    o += 60 + size + (size % 2);
  }
  return out;
}

/** An ar archive written byte by byte: "!<arch>\n", a 60-byte header per member, "\n" after odd sizes. */
export function arArchive(parts: ArPart[]): Buffer {
  const chunks: Buffer[] = [Buffer.from('!<arch>\n', 'latin1')];
  for (const p of parts) {
    const header = `${p.name.padEnd(16)}${'0'.padEnd(12)}${'0'.padEnd(6)}${'0'.padEnd(6)}${'100644'.padEnd(8)}${String(p.data.length).padEnd(10)}\`\n`;
    chunks.push(Buffer.from(header, 'latin1'), p.data);
    if (p.data.length % 2) chunks.push(Buffer.from('\n', 'latin1'));
  }
  return Buffer.concat(chunks);
}

/**
 * The severe bug of issue 11: package `first` with the control member of
 * package `second` appended after data.tar (as `appendedName`, default its
 * own name). dpkg-deb reads the first control member, apt-ftparchive the last.
 */
export function makeTwoControlDeb(outDir: string, first: DebSpec, second: DebSpec, fileName: string, appendedName?: string): string {
  const work = mkdtempSync(join(tmpdir(), 'nk-deb2-'));
  try {
    const a = arMembers(readFileSync(makeDeb(work, first)));
    const b = arMembers(readFileSync(makeDeb(work, second)));
    const control = b.find((m) => m.name.startsWith('control.tar'));
    if (!control) throw new Error('dpkg-deb wrote no control member');
    mkdirSync(outDir, { recursive: true });
    const out = join(outDir, fileName);
    writeFileSync(out, arArchive([...a, { name: appendedName ?? control.name, data: control.data }]));
    return out;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** A real .deb with `extra` bytes appended after its last member. */
export function makeTrailingBytesDeb(outDir: string, spec: DebSpec, extra: Buffer, fileName?: string): string {
  const path = makeDeb(outDir, spec, fileName);
  writeFileSync(path, Buffer.concat([readFileSync(path), extra]));
  return path;
}
