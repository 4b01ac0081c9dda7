/**
 * Which watched files are ready to validate, and when: pure bookkeeping, no
 * file system and no timers (the clock is injected), so its rules are tested
 * with a fake clock. The watcher (watch.ts) feeds it what it saw (a stat of
 * the file, or that the file is gone or refused) and runs what it says.
 *
 * A file is ready once its size and mtime have not changed for settleMs: at
 * once when its mtime is already that old (found at start, or renamed into
 * place by apt after its download), else after a recheck settleMs after the
 * last change seen. A verdict is remembered per size:mtime, so an event that
 * changes nothing does no work, and a refusal is reported once per path.
 * Ready files wait in FIFO order and are handed out in groups, at most
 * `concurrency` groups at a time; a path is not noted again while it waits or
 * is validated (the validation notices a change made meanwhile itself).
 */

export interface FileStamp {
  size: number;
  mtimeMs: number;
}

export interface Settling extends FileStamp {
  /** When size or mtime last changed (ms, the injected clock). */
  since: number;
}

/** What noting a file did: queued for validation, still settling, already decided with this stamp, or ignored (it is queued). */
export type Noted = 'ready' | 'settling' | 'known' | 'queued';

/** What a recheck of a settling file found. */
export type Rechecked = 'ready' | 'settling' | 'gone';

export interface SettleQueueOptions {
  settleMs: number;
  /** Groups validated at the same time. */
  concurrency: number;
  /** Files per group (1: one validation per file). */
  groupSize: number;
  now: () => number;
}

const stampKey = (st: FileStamp) => `${st.size}:${st.mtimeMs}`;

export class SettleQueue {
  private readonly settling = new Map<string, Settling>();
  /** Last size:mtime handed over or rejected (or the refusal reported) per path. */
  private readonly decided = new Map<string, string>();
  /** Waiting for validation; a Set keeps FIFO order with O(1) removal. */
  private readonly waiting = new Set<string>();
  /** Waiting or in validation. */
  private readonly queued = new Set<string>();
  private active = 0;

  constructor(private readonly opts: SettleQueueOptions) {}

  /** True while the path waits for or is in validation. */
  isQueued(path: string): boolean {
    return this.queued.has(path);
  }

  /** A refusal of the entry (a link, a FIFO ...): true the first time this reason is given for the path, so it is reported once. */
  refuse(path: string, reason: string): boolean {
    if (this.decided.get(path) === reason) return false;
    this.decided.set(path, reason);
    return true;
  }

  /** The file as an event or a listing found it. */
  note(path: string, st: FileStamp): Noted {
    if (this.queued.has(path)) return 'queued';
    if (this.decided.get(path) === stampKey(st)) return 'known';
    const now = this.opts.now();
    // Every write moves mtime: a file untouched for settleMs has settled already.
    if (now - st.mtimeMs >= this.opts.settleMs) {
      this.settling.delete(path);
      this.enqueue(path);
      return 'ready';
    }
    this.settling.set(path, { size: st.size, mtimeMs: st.mtimeMs, since: Math.min(now, st.mtimeMs) });
    return 'settling';
  }

  /** The files still settling, as they stand now (pass each back to recheck with a fresh stat). */
  settlingNow(): Array<[string, Settling]> {
    return [...this.settling];
  }

  get settlingCount(): number {
    return this.settling.size;
  }

  /**
   * A settling file stat'ed again by a pass that began at `passStart`:
   * ready when unchanged for settleMs by then (and not noted anew meanwhile).
   */
  recheck(path: string, seen: Settling, st: FileStamp | undefined, passStart: number): Rechecked {
    if (!st) {
      this.settling.delete(path);
      return 'gone';
    }
    if (st.size !== seen.size || st.mtimeMs !== seen.mtimeMs) {
      this.settling.set(path, { size: st.size, mtimeMs: st.mtimeMs, since: this.opts.now() });
      return 'settling';
    }
    if (passStart - seen.since >= this.opts.settleMs && this.settling.get(path) === seen) {
      this.settling.delete(path);
      this.enqueue(path);
      return 'ready';
    }
    return 'settling';
  }

  /** The verdict on this stamp of the file is in (handed over or invalid): the same stamp is not looked at again. */
  decide(path: string, st: FileStamp): void {
    this.decided.set(path, stampKey(st));
  }

  /** The file is gone: a new file at the name starts afresh. */
  forget(path: string): void {
    this.settling.delete(path);
    this.decided.delete(path);
  }

  /** Forgets every file whose directory `inDir` says is no longer watched. */
  forgetWhere(inDir: (path: string) => boolean): void {
    for (const p of [...this.settling.keys(), ...this.decided.keys()]) if (inDir(p)) this.forget(p);
  }

  /** The next group to validate (oldest first), or undefined when none is waiting or `concurrency` groups are running. */
  take(): string[] | undefined {
    if (this.active >= this.opts.concurrency || this.waiting.size === 0) return undefined;
    const group: string[] = [];
    for (const path of this.waiting) {
      group.push(path);
      if (group.length === this.opts.groupSize) break;
    }
    for (const path of group) this.waiting.delete(path);
    this.active += 1;
    return group;
  }

  /** A group taken is validated: its paths may be noted again. */
  done(group: readonly string[]): void {
    this.active -= 1;
    for (const path of group) this.queued.delete(path);
  }

  private enqueue(path: string): void {
    if (this.queued.has(path)) return;
    this.queued.add(path);
    this.waiting.add(path);
  }
}
