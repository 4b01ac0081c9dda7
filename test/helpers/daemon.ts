/** Real servers (nginx, apt-cacher-ng) as child processes of a test, on a loopback port. */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

function tryListen(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(undefined));
    srv.listen(port, '127.0.0.1', () => {
      const addr = srv.address();
      const got = typeof addr === 'object' && addr ? addr.port : undefined;
      srv.close(() => resolve(got));
    });
  });
}

/**
 * A loopback TCP port that was free a moment ago, below 32768: apt-cacher-ng
 * 3.7.4 formats its port as a signed 16-bit number, so it cannot listen on the
 * kernel's ephemeral ports.
 */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = await tryListen(20_000 + Math.floor(Math.random() * 12_000));
    if (port) return port;
  }
  throw new Error('no free loopback port in 20000-31999');
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port }, () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

export interface Daemon {
  child: ChildProcess;
  /** Everything it printed so far. */
  output(): string;
  stop(): Promise<void>;
}

/** Starts `cmd` in the foreground and waits until 127.0.0.1:port accepts connections (or it exits: then throws with its output). */
export async function startDaemon(cmd: string, args: string[], port: number, timeoutMs = 15_000): Promise<Daemon> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let exited = false;
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  child.once('error', (err) => (out += `${cmd}: ${err.message} (bash .ci/run installs it)\n`));
  const closed = new Promise<void>((resolve) => child.once('close', () => ((exited = true), resolve())));
  const stop = async () => {
    if (!exited) child.kill('SIGTERM');
    await Promise.race([closed, sleep(5000).then(() => child.kill('SIGKILL'))]);
    await closed;
  };
  const deadline = Date.now() + timeoutMs;
  while (!(await accepts(port))) {
    if (exited || Date.now() > deadline) {
      await stop();
      throw new Error(`${cmd} ${args.join(' ')} did not listen on 127.0.0.1:${port}:\n${out}`);
    }
    await sleep(100);
  }
  return { child, output: () => out, stop };
}
