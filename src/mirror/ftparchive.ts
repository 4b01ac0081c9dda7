/**
 * Packages indices with apt-ftparchive `generate`: one BinDirectory per
 * architecture whose FileList is exactly the suite's members for that
 * architecture (plus `all`), run against mirror.root so Filename: is
 * pool-relative. Its --db cache with AlwaysStat keeps the cost proportional
 * to new or changed .debs, not to the pool.
 *
 * apt-ftparchive exits 0 on corrupt .debs, missing files and a full disk, so
 * its word is never taken: stderr is scanned for E:/W:, and the output must
 * list exactly the requested files. The .gz and .xz forms are made here.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { OperationError } from '../errors.js';
import { progress, type MirrorContext } from './context.js';
import { exists } from '../shell.js';
import { mirrorLayout, suiteListPath } from './layout.js';
import { parseStanzas } from './release.js';

/** The three forms of every Packages index (apt and mmdebstrap want the uncompressed one too). */
export const PACKAGES_FILES = ['Packages', 'Packages.gz', 'Packages.xz'] as const;

export interface ArchIndex {
  arch: string;
  /** Directory holding Packages, Packages.gz, Packages.xz. */
  dir: string;
  /** Pool-relative paths indexed, sorted. */
  files: string[];
  /** Size: of every indexed file, by pool path. */
  sizes: Map<string, number>;
}

/** A suite-list line we are willing to hand to apt-ftparchive (and later to gc). */
const MEMBER = /^pool\/main\/[^\s/][^\s]*\.deb$/;

export function isValidMember(line: string): boolean {
  return MEMBER.test(line) && !line.split('/').some((part) => part === '..' || part === '.' || part === '');
}

/** Members of a suite that belong into binary-<arch>: that architecture and `all` (by the pool name). */
export function membersForArch(members: readonly string[], arch: string): string[] {
  return members.filter((m) => m.endsWith(`_${arch}.deb`) || m.endsWith('_all.deb'));
}

/** Lines of apt-ftparchive output that mean failure. It exits 0 regardless. */
export function ftparchiveProblems(output: string): string[] {
  return output
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^(E|W):/.test(l));
}

/** apt.conf-style strings cannot escape a double quote: refuse such paths instead of mangling them. */
function confString(value: string): string {
  if (/["\x00-\x1f]/.test(value)) {
    throw new OperationError(`path not usable in an apt-ftparchive configuration: ${JSON.stringify(value)}`, 'Use a directory name without double quotes or control characters.');
  }
  return `"${value}"`;
}

export interface GenerateRequest {
  members: readonly string[];
  architectures: readonly string[];
  /** Staging directory (same file system as mirror.root, outside dists/<codename>). */
  outDir: string;
}

/** Writes <outDir>/main/binary-<arch>/Packages{,.gz,.xz} for every architecture and checks them. */
export async function generatePackages(ctx: MirrorContext, req: GenerateRequest): Promise<ArchIndex[]> {
  const { sh } = ctx;
  const layout = mirrorLayout(ctx.config);
  await sh.mkdir(layout.cache);
  const indices: ArchIndex[] = [];
  const sections: string[] = [];
  for (const arch of req.architectures) {
    const dir = join(req.outDir, 'main', `binary-${arch}`);
    const files = membersForArch(req.members, arch).sort();
    const fileList = join(req.outDir, `filelist-${arch}`);
    await sh.mkdir(dir);
    await sh.writeFile(fileList, files.length ? `${files.join('\n')}\n` : '');
    sections.push(
      `BinDirectory ${confString(`binary-${arch}`)} {`,
      `  Packages ${confString(join(dir, 'Packages'))};`,
      `  FileList ${confString(fileList)};`,
      `  BinCacheDB ${confString('packages.db')};`,
      '};',
    );
    indices.push({ arch, dir, files, sizes: new Map() });
  }
  const conf = [
    `Dir { ArchiveDir ${confString(layout.root)}; CacheDir ${confString(layout.cache)}; };`,
    'Default { Packages::Compress "."; FileMode 0644; };',
    ...sections,
    '',
  ].join('\n');
  const confPath = join(req.outDir, 'apt-ftparchive.conf');
  await sh.writeFile(confPath, conf);
  const res = await sh.write(['apt-ftparchive', ['-q', '-o', 'APT::FTPArchive::AlwaysStat=true', 'generate', '--', confPath]], {
    cwd: layout.root,
    signal: ctx.signal,
    hint: `If the cache database is damaged, remove ${layout.cache}/packages.db and publish again.`,
  });
  if (res.skipped) return indices;
  const problems = ftparchiveProblems(`${res.stderr}\n${res.stdout}`);
  if (problems.length) {
    throw new OperationError(
      `apt-ftparchive reported problems (it exits 0 anyway); nothing was published:\n${problems.slice(0, 20).map((p) => `  ${p}`).join('\n')}`,
      'Bad .debs belong in quarantine (run `nspawn-kit mirror import` again); "No space left" means free space under mirror.root.',
    );
  }
  for (const index of indices) {
    const { text, sizes } = await checkIndex(index);
    index.sizes = sizes;
    await compressIndex(ctx, index, text);
    progress(ctx, `indexed ${index.files.length} packages for binary-${index.arch}`);
  }
  return indices;
}

/** The index lists exactly the requested files: a full disk or a corrupt .deb must not pass as success. */
async function checkIndex(index: ArchIndex): Promise<{ text: Buffer; sizes: Map<string, number> }> {
  const text = await fsp.readFile(join(index.dir, 'Packages'));
  const stanzas = parseStanzas(text.toString('utf8'));
  const listed = new Set(stanzas.map((s) => s['Filename'] ?? ''));
  const missing = index.files.filter((f) => !listed.has(f));
  if (stanzas.length !== index.files.length || missing.length) {
    throw new OperationError(
      `bad Packages index for binary-${index.arch}: expected ${index.files.length} packages, got ${stanzas.length}${missing.length ? ` (missing: ${missing.slice(0, 5).join(', ')})` : ''}; nothing was published`,
      'Check free space and the .debs under mirror.root, then publish again.',
    );
  }
  return { text, sizes: new Map(stanzas.map((s) => [s['Filename'] ?? '', Number(s['Size'] ?? 0)])) };
}

/**
 * Packages.gz and Packages.xz, made here rather than by apt-ftparchive: its
 * built-in xz (level 6) took 1 s of CPU for a 2,000-package index, most of the
 * incremental budget; xz -0 takes 0.13 s for a file within 3% of the size
 * (the checksums in an index hardly compress). xz(1) also reports write
 * errors in its exit status, where apt-ftparchive exits 0.
 */
async function compressIndex(ctx: MirrorContext, index: ArchIndex, text: Buffer): Promise<void> {
  await ctx.sh.writeFile(join(index.dir, 'Packages.gz'), gzipSync(text));
  await ctx.sh.write(['xz', ['-0', '--keep', '--force', '--', join(index.dir, 'Packages')]], {
    signal: ctx.signal,
    hint: 'Check free space under mirror.root.',
  });
}

export const CODENAME = /^[a-z][a-z0-9-]{1,31}$/;

/** Codenames that have a suite membership list. */
export async function listSuites(ctx: MirrorContext): Promise<string[]> {
  const dir = mirrorLayout(ctx.config).suites;
  if (!(await exists(dir))) return [];
  return (await fsp.readdir(dir))
    .filter((f) => f.endsWith('.list'))
    .map((f) => f.slice(0, -'.list'.length))
    .filter((c) => CODENAME.test(c))
    .sort();
}

/** The suite's members, validated: a line we would not index is an error, never silently dropped. */
export async function readSuiteList(ctx: MirrorContext, codename: string): Promise<string[]> {
  const path = suiteListPath(mirrorLayout(ctx.config), codename);
  if (!(await exists(path))) {
    throw new OperationError(`no suite list for ${codename} (${path})`, `Import packages for ${codename} first: nspawn-kit mirror import.`);
  }
  const lines = (await fsp.readFile(path, 'utf8')).split('\n').filter((l) => l.trim() !== '');
  const bad = lines.filter((l) => !isValidMember(l));
  if (bad.length) {
    throw new OperationError(`${path} holds lines that are not pool paths: ${bad.slice(0, 5).map((b) => JSON.stringify(b)).join(', ')}`, 'Run `nspawn-kit mirror import` again to rewrite the list.');
  }
  return [...new Set(lines)].sort();
}
