/**
 * The one choke point for side effects. Every external command goes through
 * Shell.run(cmd, { write }). File-system changes go through the Shell's fs
 * helpers, except in the few modules that need descriptor-level control
 * (fsync, O_EXCL, hard links, atomic renames in the pool and the staged
 * publication) or private temporary files: test/unit/shell-fs-writes.test.ts
 * lists them with their reasons and fails on a direct write anywhere else.
 * With dryRun, the Shell's writes are printed (exactly, copy-pasteable) and
 * skipped, reads still run so the plan is accurate; the listed modules see to
 * their own dry run.
 *
 * Values reach the shell only through zx `${}` interpolation of an argv array.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp, constants as fsConstants } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { $, quote } from 'zx/core';
import { spawnBackground } from './children.js';
import { CommandError, tail } from './errors.js';
import { logToStderr } from './escape.js';
import { formatProgress, throttledProgress, type ProgressSink } from './progress.js';

/** A command as data: the program and its argv, each flag next to its value. */
export type Command = readonly [cli: string, args: readonly string[]];

export interface RunOptions {
  /** true when the command changes the system (skipped and printed in dry-run). */
  write: boolean;
  cwd?: string;
  input?: string | Buffer;
  /** Extra environment, merged over process.env. */
  env?: Record<string, string | undefined>;
  /** For probes that may fail: return the result instead of throwing. */
  nothrow?: boolean;
  /** Called with each line of stdout and stderr as it arrives (progress). */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  signal?: AbortSignal;
  /** Hint attached to the CommandError if the command fails. */
  hint?: string;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number | null;
  /** true when dry-run skipped the command. */
  skipped: boolean;
}

export interface ShellOptions {
  dryRun?: boolean;
  verbose?: boolean;
  /** Where dry-run plans and verbose output go (a listr2 task rebinds this to task.output). */
  log?: (line: string) => void;
  /** Where long stages report how far along they are (progress.ts; a listr2 task rebinds it too). Default: throttled lines through `log`. */
  progress?: ProgressSink;
}

const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** A copy-pasteable rendering of a command. */
export function formatCommand([cli, args]: Command): string {
  return [cli, ...args].map((a) => (a !== '' && SAFE_WORD.test(a) ? a : quote(a))).join(' ');
}

export class Shell {
  readonly dryRun: boolean;
  readonly verbose: boolean;
  /** Every write the shell skipped in dry-run, in order. */
  readonly planned: string[] = [];
  log: (line: string) => void;
  progress: ProgressSink;

  constructor(opts: ShellOptions = {}) {
    this.dryRun = opts.dryRun ?? false;
    this.verbose = opts.verbose ?? false;
    this.log = opts.log ?? logToStderr;
    this.progress = opts.progress ?? throttledProgress((r) => this.log(formatProgress(r)));
  }

  /** A shell sharing settings and plan, logging (and reporting progress) elsewhere, e.g. to one listr2 task. */
  withLog(log: (line: string) => void, progress?: ProgressSink): Shell {
    const child = Object.create(this) as Shell;
    child.log = log;
    if (progress) child.progress = progress;
    return child;
  }

  private plan(text: string): void {
    this.planned.push(text);
    this.log(`[dry-run] ${text}`);
  }

  async run(cmd: Command, opts: RunOptions): Promise<RunResult> {
    const printable = formatCommand(cmd);
    if (opts.write && this.dryRun) {
      this.plan(printable);
      return { stdout: '', stderr: '', exitCode: 0, skipped: true };
    }
    if (this.verbose) this.log(`$ ${printable}`);
    const [cli, args] = cmd;
    const argv = [cli, ...args];
    const sh = $({
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      input: opts.input,
      signal: opts.signal,
      nothrow: true,
      quiet: true,
      verbose: false,
      // Its own session and process group, registered until it exits, so that the entry point's
      // signal handler stops it and everything it started (children.ts says why).
      detached: true,
      spawn: spawnBackground as unknown as typeof import('node:child_process').spawn,
    });
    const proc = sh`${argv}`;
    if (opts.onLine || this.verbose) {
      const emit = (stream: 'stdout' | 'stderr') => {
        let pending = '';
        return (chunk: Buffer | string) => {
          pending += chunk.toString();
          const lines = pending.split(/\r?\n|\r/);
          pending = lines.pop() ?? '';
          for (const line of lines) {
            if (opts.onLine) opts.onLine(line, stream);
            if (this.verbose) this.log(line);
          }
        };
      };
      proc.stdout.on('data', emit('stdout'));
      proc.stderr.on('data', emit('stderr'));
    }
    const out = await proc;
    const result: RunResult = {
      stdout: out.stdout,
      stderr: out.stderr,
      exitCode: out.exitCode,
      skipped: false,
    };
    if (out.exitCode !== 0 && !opts.nothrow) {
      throw new CommandError(printable, out.exitCode, tail(out.stderr || out.stdout), opts.hint);
    }
    return result;
  }

  /** Shorthand for read-only commands. */
  read(cmd: Command, opts: Omit<RunOptions, 'write'> = {}): Promise<RunResult> {
    return this.run(cmd, { ...opts, write: false });
  }

  /** Shorthand for commands that change the system. */
  write(cmd: Command, opts: Omit<RunOptions, 'write'> = {}): Promise<RunResult> {
    return this.run(cmd, { ...opts, write: true });
  }

  // ---- file-system writes: the same choke point ----

  async mkdir(path: string, mode?: number): Promise<void> {
    if (this.dryRun) {
      if (!(await exists(path))) this.plan(formatCommand(['mkdir', ['-p', ...(mode ? ['-m', mode.toString(8)] : []), '--', path]]));
      return;
    }
    await fsp.mkdir(path, { recursive: true, mode });
    if (mode !== undefined) await fsp.chmod(path, mode);
  }

  /** Atomic write: temp file in the same directory, fsync, rename. */
  async writeFile(path: string, data: string | Buffer, mode = 0o644): Promise<void> {
    if (this.dryRun) {
      this.plan(`write ${path} (${Buffer.byteLength(data)} bytes, mode ${mode.toString(8)})`);
      return;
    }
    await writeFileAtomic(path, data, mode);
  }

  async rename(from: string, to: string): Promise<void> {
    if (this.dryRun) return this.plan(formatCommand(['mv', ['-T', '--', from, to]]));
    await fsp.rename(from, to);
  }

  /** rm -rf that never crosses into another file system (a leftover bind mount). */
  async remove(path: string): Promise<void> {
    await this.run(['rm', ['-rf', '--one-file-system', '--', path]], { write: true });
  }

  async symlink(target: string, path: string): Promise<void> {
    if (this.dryRun) return this.plan(formatCommand(['ln', ['-sfn', '--', target, path]]));
    await fsp.rm(path, { force: true });
    await fsp.symlink(target, path);
  }
}

export async function exists(path: string): Promise<boolean> {
  try {
    await fsp.access(path, fsConstants.F_OK);
    return true;
  } catch {
    return false;
  }
}

/** Temp name in the same directory (same file system), fsync, rename, fsync the directory. */
export async function writeFileAtomic(path: string, data: string | Buffer, mode = 0o644): Promise<void> {
  const dir = dirname(path);
  await fsp.mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await fsp.open(tmp, 'w', mode);
  try {
    await fh.writeFile(data);
    await fh.chmod(mode);
    await fh.sync();
  } catch (err) {
    // A full disk: the partial temp file goes too.
    await fh.close().catch(() => undefined);
    await fsp.rm(tmp, { force: true });
    throw err;
  } finally {
    await fh.close().catch(() => undefined);
  }
  try {
    await fsp.rename(tmp, path);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  }
  await fsyncDir(dir);
}

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
