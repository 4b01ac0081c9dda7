/**
 * The importer's first steps for given files: screening (what may be read at
 * all: a machine's values, links, special files) and validation (a private
 * staged copy, inspected with dpkg-deb). A machine's file is always staged,
 * whatever the importer (never read in place), and only after its apt name
 * and size are promised by a verified list of its codename (machine-files.ts).
 */
import { promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import type { Shell } from '../shell.js';
import { refuseMachineFile, symlinkTargetInside } from './archive-scan.js';
import { inspectDebs, type DebInspection } from './deb.js';
import type { ImportReport } from './import-state.js';
import type { MirrorLayout } from './layout.js';
import { notVerified, refuseMachineValues, type MachineTrust } from './machine-files.js';
import { chooseStagingDir } from './staging-dir.js';
import { stageDeb, type StagedDeb } from './stage.js';
import { assertCodename } from './suites.js';

export interface ImportFile {
  path: string;
  codename: string;
  /**
   * Set for files from a machine's apt cache (root inside the machine wrote
   * them): accepted only when named by a package list nspawn-kit verified
   * of its codename (see machine-files.ts); never set for the admin's mirror.archives.
   */
  machine?: string;
  /** An in-directory symlink's real target, resolved once when listed: what is opened (O_NOFOLLOW). */
  openPath?: string;
  /** The real directory the opened file must lie in (set when listed or screened). */
  realDir?: string;
}

export interface Candidate extends ImportFile {
  size: number;
  mtimeMs: number;
  ino: number;
  /** The private pool copy that was validated (native, not dry-run; always for a machine's file). */
  staged?: StagedDeb;
  /** Refused for a reason that may pass later (full disk, a list not verified yet): not remembered in the cache. */
  retry?: boolean;
  /** The disk was full when this file was staged (perhaps by copies made in parallel). */
  noSpace?: boolean;
}

/** Which of the given files may be read at all; the others go to the report (rejected, or a warning if gone). */
export async function screenFiles(files: ImportFile[], pre: ImportReport): Promise<ImportFile[]> {
  const accepted: ImportFile[] = [];
  for (const f of files) {
    const path = resolve(f.path);
    if (f.machine !== undefined) {
      // Values a machine supplied refuse its file only: the other files (and machines) go on.
      const bad = refuseMachineValues(f.codename, f.machine);
      if (bad) {
        pre.rejected.push({ file: path, reason: bad });
        continue;
      }
      const refused = basename(path).endsWith('.deb') ? await refuseMachineFile(path) : 'not a .deb file name';
      if (refused === 'vanished before it could be read') pre.warnings.push(`${path}: ${refused}`);
      else if (refused) pre.rejected.push({ file: path, reason: `${refused} (machine ${f.machine})` });
      else accepted.push({ path, codename: f.codename, machine: f.machine, realDir: dirname(path) });
      continue;
    }
    assertCodename(f.codename);
    if (!basename(path).endsWith('.deb')) {
      pre.rejected.push({ file: path, reason: 'not a .deb file name' });
      continue;
    }
    let st;
    try {
      st = await fsp.lstat(path);
    } catch {
      pre.warnings.push(`${path}: vanished before it could be read`);
      continue;
    }
    const realDir = await fsp.realpath(dirname(path)).catch(() => undefined);
    if (realDir === undefined) {
      pre.warnings.push(`${path}: vanished before it could be read`);
      continue;
    }
    let openPath: string | undefined;
    if (st.isSymbolicLink()) {
      openPath = await symlinkTargetInside(path, realDir);
      if (openPath === undefined) {
        pre.rejected.push({ file: path, reason: 'symbolic link leading outside the archive directory (not followed)' });
        continue;
      }
    } else if (!st.isFile()) {
      pre.rejected.push({ file: path, reason: 'not a regular file' });
      continue;
    }
    accepted.push({ path, codename: f.codename, realDir, ...(openPath ? { openPath } : {}) });
  }
  return accepted;
}

export interface ValidatorOptions {
  sh: Shell;
  layout: MirrorLayout;
  trust: MachineTrust;
  /** Stage admin files too (not a dry run): whatever the importer, only the private copy is read after validation. */
  staging: boolean;
  architectures: readonly string[];
  /** Bytes one machine may have copied in one run (the rest waits for the next run). */
  machineBudget: number;
  signal?: AbortSignal;
}

/** Validates chunks of candidates (verdicts in order); cleanup removes a dry run's private staging directory. */
export function createValidator(opts: ValidatorOptions): { validateChunk: (chunk: Candidate[]) => Promise<DebInspection[]>; cleanup: () => Promise<void> } {
  const { sh, layout, trust, staging, architectures, machineBudget, signal } = opts;
  // A machine's file is always staged (never read in place, whatever the importer); a dry run stages it outside the mirror.
  let dryStage: Promise<string> | undefined;
  let realStage: Promise<string> | undefined;
  const stageDir = (): Promise<string> => (sh.dryRun ? (dryStage ??= fsp.mkdtemp(join(tmpdir(), 'nk-dry-stage-'))) : (realStage ??= chooseStagingDir(layout)));
  // Each (machine, codename, name, version, architecture) is copied at most once per run.
  const seen = new Set<string>();
  // Bytes copied per machine in this run (reserved before the copy, at the largest verified size).
  const budget = new Map<string, number>();
  const validateChunk = async (chunk: Candidate[]): Promise<DebInspection[]> => {
    const out: DebInspection[] = [];
    const inspect: { k: number; path: string; known?: StagedDeb }[] = [];
    for (const [k, c] of chunk.entries()) {
      if (c.machine === undefined && !staging) {
        inspect.push({ k, path: c.path });
        continue;
      }
      let expectedSizes: number[] | undefined;
      let key: string | undefined;
      if (c.machine !== undefined) {
        const expected = await trust.expectedSizes(basename(c.path), c.codename, c.machine);
        if ('reason' in expected) {
          // Not cached: a later warm may verify these very bytes.
          c.retry = true;
          out[k] = { ok: false, reason: expected.reason };
          continue;
        }
        key = `${c.machine}\0${c.codename}\0${expected.key}`;
        if (seen.has(key)) {
          c.retry = true;
          out[k] = { ok: false, reason: `another file of machine ${c.machine} names the same package in this run; not copied` };
          continue;
        }
        const spent = budget.get(c.machine) ?? 0;
        const cost = Math.max(...expected.sizes);
        if (spent + cost > machineBudget) {
          c.retry = true;
          out[k] = { ok: false, reason: `machine ${c.machine} has had ${spent} bytes copied in this run (at most ${machineBudget}); not copied now, the next import takes it` };
          continue;
        }
        budget.set(c.machine, spent + cost);
        seen.add(key);
        expectedSizes = expected.sizes;
      }
      const r = await stageDeb(layout, c.path, {
        realDir: c.realDir ?? (await fsp.realpath(dirname(c.path)).catch(() => dirname(c.path))),
        openPath: c.openPath,
        expectedSizes,
        listedSize: c.machine === undefined ? c.size : undefined,
        refuseSparse: c.machine !== undefined,
        dir: await stageDir(),
        signal,
      }).catch((err: unknown) => {
        // A machine's file that fails in an unforeseen way (EIO, say) is that file's problem, never the import's.
        if (c.machine === undefined || signal?.aborted) throw err;
        return { ok: false as const, reason: `cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, noSpace: false };
      });
      if (r.ok && c.machine !== undefined && !(await trust.namesBytes(basename(c.path), c.codename, r.staged))) {
        // Its bytes are not the verified ones: refused before dpkg-deb reads (decompresses) a byte of them.
        await fsp.rm(r.staged.tmp, { force: true });
        c.retry = true;
        out[k] = { ok: false, reason: notVerified(c.codename, c.machine) };
      } else if (r.ok) {
        c.staged = r.staged;
        inspect.push({ k, path: r.staged.tmp, known: r.staged });
      } else {
        c.retry = c.noSpace = r.noSpace;
        // A full disk is tried again alone (import.ts): that retry is the same file, not another one.
        if (r.noSpace && key !== undefined && c.machine !== undefined) {
          seen.delete(key);
          budget.set(c.machine, (budget.get(c.machine) ?? 0) - Math.max(...(expectedSizes ?? [0])));
        }
        if ('changed' in r && r.changed) c.retry = true;
        out[k] = { ok: false, reason: r.reason };
      }
    }
    const res = await inspectDebs(sh, inspect.map((i) => i.path), { architectures, signal, known: inspect.map((i) => i.known) });
    for (const [j, { k }] of inspect.entries()) out[k] = res[j] ?? { ok: false, reason: 'not inspected' };
    return out;
  };
  const cleanup = async (): Promise<void> => {
    if (dryStage) await fsp.rm(await dryStage, { recursive: true, force: true });
  };
  return { validateChunk, cleanup };
}
