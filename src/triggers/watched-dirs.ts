/**
 * The directories the watcher watches and what their files are filed under:
 * pure bookkeeping (no file system). A directory may be configured by the
 * admin (mirror.archives) and found as a machine's apt cache; a directory
 * that belongs to a machine and that the admin did not configure is the
 * machine's (root in that machine writes it: its files are never followed or
 * validated in place, and carry the machine's name to the importer).
 */
import { basename, dirname, resolve } from 'node:path';
import type { Archive } from '../config/types.js';

export class WatchedDirs {
  /** Watched dir -> codenames its files are filed under. */
  private readonly codenames = new Map<string, Set<string>>();
  /** Watched dir -> the machine it belongs to (dirs the admin also configured are not listed: they are trusted). */
  private readonly machineOf = new Map<string, string>();
  /** Directories that do not exist (yet): armed by the periodic rescan once they appear. */
  readonly missing = new Set<string>();
  /** The admin's directories (resolved): never a machine's, never dropped with a machine. */
  private readonly configured: Set<string>;

  constructor(archives: readonly Archive[]) {
    this.configured = new Set(archives.map((a) => resolve(a.path)));
  }

  /** Files `codename` under `dir`; true when the directory is new (arm it). */
  add(dir: string, codename: string): boolean {
    const path = resolve(dir);
    const known = this.codenames.get(path);
    if (known) return void known.add(codename), false;
    this.codenames.set(path, new Set([codename]));
    return true;
  }

  /** Marks `dir` as `machine`'s unless the admin configured it too. */
  claimForMachine(dir: string, machine: string): void {
    const path = resolve(dir);
    if (!this.configured.has(path)) this.machineOf.set(path, machine);
  }

  /** True when the admin configured `dir` (it stays watched when a machine using it goes). */
  isConfigured(dir: string): boolean {
    return this.configured.has(resolve(dir));
  }

  /** Stops filing files under `dir`; returns its resolved path. */
  remove(dir: string): string {
    const path = resolve(dir);
    this.codenames.delete(path);
    this.machineOf.delete(path);
    this.missing.delete(path);
    return path;
  }

  has(dir: string): boolean {
    return this.codenames.has(dir);
  }

  /** The machine whose cache holds `path` (a file), if any. */
  machineOfFile(path: string): string | undefined {
    return this.machineOf.get(dirname(path));
  }

  /** The codenames a file in a watched directory is filed under. */
  codenamesOfFile(path: string): ReadonlySet<string> {
    return this.codenames.get(dirname(path)) ?? new Set();
  }

  /** apt renames verified downloads into place: only top-level, non-hidden *.deb files count (partial/, lock, ... do not). */
  isTopLevelDeb(path: string): boolean {
    return this.codenames.has(dirname(path)) && path.endsWith('.deb') && !basename(path).startsWith('.');
  }

  /** Every watched directory. */
  paths(): string[] {
    return [...this.codenames.keys()];
  }

  size(): number {
    return this.codenames.size;
  }

  /** Directories with the codename files are filed under (one entry per pair). */
  archives(): Archive[] {
    return [...this.codenames].flatMap(([path, codenames]) => [...codenames].map((codename) => ({ path, codename })));
  }
}
