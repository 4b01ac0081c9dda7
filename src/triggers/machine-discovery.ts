/**
 * Which machines' archive directories the watcher watches, rescan after
 * rescan. Each rescan lists the machines (machine-archives.ts
 * discoverMachineArchives: provenance read and validated, the archive
 * directory resolved inside the root) and compares with the machines watched
 * so far: a machine whose codename, directory or directory inode changed (a
 * rebuilt machine is a new directory) is removed and added again, a machine
 * gone is removed. A refusal is reported once until its reason changes or
 * the machine is found good. The listing and the inode are injected, so the
 * comparison is tested without building machines.
 */
import { promises as fsp } from 'node:fs';
import { discoverMachineArchives, type MachineArchive } from './machine-archives.js';

export interface WatchedMachine extends MachineArchive {
  /** Inode of the archive directory when it was added. */
  ino: number | undefined;
}

export interface MachineChanges {
  /** Stop watching these (in the order found). */
  removed: WatchedMachine[];
  /** Start watching these. */
  added: WatchedMachine[];
}

export interface MachineDiscoveryOptions {
  machinesDir: string;
  /** A refusal not reported before (or with another reason). */
  onRefused: (machine: string, reason: string) => void;
  /** Default: discoverMachineArchives. */
  discover?: (machinesDir: string, refuse: (machine: string, reason: string) => void) => Promise<Map<string, MachineArchive>>;
  /** Default: the lstat inode, undefined when gone. */
  inode?: (dir: string) => Promise<number | undefined>;
}

const lstatInode = async (dir: string) => (await fsp.lstat(dir).catch(() => undefined))?.ino;

export class MachineDiscovery {
  private readonly watched = new Map<string, WatchedMachine>();
  /** Last refusal per machine, so a rescan every few seconds does not repeat the log line. */
  private readonly refused = new Map<string, string>();
  private readonly discover;
  private readonly inode;

  constructor(private readonly opts: MachineDiscoveryOptions) {
    this.discover = opts.discover ?? discoverMachineArchives;
    this.inode = opts.inode ?? lstatInode;
  }

  /** Lists the machines again; what to stop and start watching. The machines returned count as watched from now on. */
  async rescan(): Promise<MachineChanges> {
    const found = await this.discover(this.opts.machinesDir, (machine, reason) => {
      if (this.refused.get(machine) === reason) return;
      this.refused.set(machine, reason);
      this.opts.onRefused(machine, reason);
    });
    for (const name of found.keys()) this.refused.delete(name);
    const removed: WatchedMachine[] = [];
    for (const [name, m] of this.watched) {
      const now = found.get(name);
      if (now && now.codename === m.codename && now.path === m.path && (await this.inode(now.path)) === m.ino) continue;
      this.watched.delete(name);
      removed.push(m);
    }
    const added: WatchedMachine[] = [];
    for (const [name, m] of found) {
      if (this.watched.has(name)) continue;
      const w = { ...m, ino: await this.inode(m.path) };
      this.watched.set(name, w);
      added.push(w);
    }
    return { removed, added };
  }
}
