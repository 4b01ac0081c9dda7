/**
 * A `systemctl` on PATH that only logs its arguments (one line per call), for
 * tests of code that runs it where systemd is PID 1. Returns the log file and
 * a function that restores PATH.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function stubSystemctl(dir: string): { log: string; restore: () => void } {
  const stubs = join(dir, 'stubs');
  const log = join(dir, 'systemctl.log');
  mkdirSync(stubs, { recursive: true });
  writeFileSync(join(stubs, 'systemctl'), `#!/bin/sh\necho "$*" >>'${log}'\n`);
  chmodSync(join(stubs, 'systemctl'), 0o755);
  const path = process.env.PATH;
  process.env.PATH = `${stubs}:${path}`;
  return { log, restore: () => void (process.env.PATH = path) };
}
