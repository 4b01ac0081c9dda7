/**
 * The reviewer's attack on in-place validation: wait until something opens
 * and closes a file read-only (dpkg-deb --field), then rename a FIFO over its
 * name, so the next open of the name (dpkg-deb --fsys-tarfile) waits for a
 * writer forever. Node has no IN_CLOSE_NOWRITE, so the waiting is Python's
 * ctypes on libc's inotify (python3 is part of Debian's base system).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants, promises as fsp } from 'node:fs';
import { once } from 'node:events';

const SCRIPT = `
import ctypes, os, sys
libc = ctypes.CDLL('libc.so.6', use_errno=True)
watched, final, fifo = sys.argv[1:4]
os.mkfifo(fifo)
fd = libc.inotify_init()
if fd < 0 or libc.inotify_add_watch(fd, watched.encode(), 0x10) < 0: sys.exit('inotify failed')
print('armed', flush=True)
os.read(fd, 4096)
os.rename(fifo, final)
print('swapped', flush=True)
`;

export interface FifoSwap {
  /** Resolves true once the FIFO is in place. */
  swapped: Promise<boolean>;
  /** Ends the swapper (if still waiting) and gives EOF to whatever still waits on the FIFO. */
  stop(): Promise<void>;
}

/** Arms on `watched` (same inode as `final` once the caller renames it there); `fifo` is a scratch name in the same directory. */
export async function armFifoSwap(watched: string, final: string, fifo: string): Promise<FifoSwap> {
  const child: ChildProcess = spawn('python3', ['-c', SCRIPT, watched, final, fifo], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  let onLine: () => void = () => undefined;
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    onLine();
  });
  const exited = once(child, 'exit');
  await new Promise<void>((resolve, reject) => {
    onLine = () => out.includes('armed') && resolve();
    void exited.then(() => reject(new Error(`fifo swapper exited: ${out}`)));
  });
  const swapped = exited.then(() => out.includes('swapped'));
  return {
    swapped,
    async stop() {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited.catch(() => undefined);
      // A reader blocked in open() of the FIFO gets a writer, then EOF.
      for (const p of [final, fifo]) {
        const st = await fsp.lstat(p).catch(() => undefined);
        if (!st?.isFIFO()) continue;
        const h = await fsp.open(p, constants.O_WRONLY | constants.O_NONBLOCK).catch(() => undefined);
        await h?.close();
      }
    },
  };
}
