/** The archive watcher's interface (watch.ts): what it is given, what it reports, what it hands over. */
import type { Archive } from '../config/types.js';

export interface WatchedFile {
  path: string;
  codename: string;
  /** The machine whose apt cache holds the file (root in that machine wrote it); absent for mirror.archives. */
  machine?: string;
}

export type WatchEvent =
  | { event: 'ready'; dirs: number; files: number }
  | { event: 'settled'; path: string; codename: string }
  | { event: 'invalid'; path: string; reason: string }
  | { event: 'batch'; files: number }
  | { event: 'machine-added'; machine: string; codename: string; dir: string }
  | { event: 'machine-removed'; machine: string; dir: string }
  | { event: 'machine-refused'; machine: string; reason: string }
  | { event: 'error'; message: string };

export interface ArchiveWatcherOptions {
  archives: Archive[];
  /** machines.dir: watch the archives of the machines nspawn-kit built there. */
  machinesDir?: string;
  settleMs: number;
  batchMs: number;
  /** true if the file is a complete, valid .deb, else why not. Given /proc/<pid>/fd/<N> of a descriptor the watcher holds open; the signal fires at the deadline. */
  validate: (path: string, signal?: AbortSignal) => Promise<true | string>;
  /** Validates many files in one go (same verdicts, in order); used instead of validate when given. */
  validateMany?: (paths: string[], signal?: AbortSignal) => Promise<(true | string)[]>;
  /** Deadline of one validation (default 120 s); its files are then reported invalid and retried on their next change. */
  validateTimeoutMs?: number;
  onBatch: (files: WatchedFile[]) => void;
  onEvent?: (event: WatchEvent) => void;
  /** Machines whose provenance appears after their directory are found by this periodic rescan. */
  machineRescanMs?: number;
  /** Full listing of every watched directory (default 10 min): events are hints, this is the safety net. */
  reconcileMs?: number;
  /** Validations in parallel (dpkg-deb reads the whole file). */
  concurrency?: number;
}

export interface ArchiveWatcher {
  /** Directories watched now, with the codename files are filed under. */
  dirs(): Archive[];
  /** Stops watching; files not yet handed over are picked up by the next start's reconcile. */
  close(): Promise<void>;
}
