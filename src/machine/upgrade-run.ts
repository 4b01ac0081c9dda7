/**
 * How `nspawn-kit upgrade` runs apt in a machine, offline, from the local
 * mirror only: the script (apt-get update from one sources file the host
 * wrote, List-Cleanup off, then `upgrade --with-new-pkgs` keeping changed
 * configuration files), and the two ways in:
 * - a stopped machine: a non-booted systemd-nspawn with no network, the
 *   mirror bound read-only (nspawn-argv.ts offlineRunCommand);
 * - a running one: nsenter into every namespace and the root of its leader
 *   (the container's PID 1, found among the host's processes: the child of
 *   its systemd-nspawn that lives in another PID namespace). That works
 *   with or without systemd as the host's PID 1 and whether or not machined
 *   knows the machine (nspawn-kit starts it with --register=no).
 */
import { promises as fsp } from 'node:fs';
import { parentPid, processes } from '../proc.js';
import type { Command } from '../shell.js';
import { isNspawnOn, nspawnPids } from './boot.js';

/** Arguments: $1 = the sources file (inside the machine). Every value reaches apt as "$1", never inside the text. */
export const UPGRADE_SCRIPT = [
  'set -e',
  'apt-get -q -o Dpkg::Use-Pty=0 -o Dir::Etc::SourceList="$1" -o Dir::Etc::SourceParts=- -o APT::Get::List-Cleanup=0 update --error-on=any',
  'apt-get -q -y -o Dpkg::Use-Pty=0 -o Dir::Etc::SourceList="$1" -o Dir::Etc::SourceParts=- -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold upgrade --with-new-pkgs',
].join('\n');

/** The script's argv (after nspawn's or nsenter's "--"). */
export function upgradeArgv(sourcesFile: string): string[] {
  return ['/bin/sh', '-c', UPGRADE_SCRIPT, 'nspawn-kit-upgrade', sourcesFile];
}

/** A clean environment inside: nothing of the caller's (locale, proxies, PATH) leaks into the machine. */
const INSIDE_ENV = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'DEBIAN_FRONTEND=noninteractive', 'LC_ALL=C.UTF-8'];

/** Into a running machine: every namespace of its leader (the user namespace too, with private users), its root and working directory. */
export function nsenterCommand(leader: number, argv: readonly string[]): Command {
  return ['nsenter', [`--target=${leader}`, '--all', '--root', '--wd', '--', '/usr/bin/env', '-i', ...INSIDE_ENV, ...argv]];
}

/** The container's PID 1 of a machine running on root, or undefined (not running, or nothing found in another PID namespace). */
export async function containerLeader(root: string): Promise<number | undefined> {
  const nspawn = new Set(await nspawnPids(root));
  if (nspawn.size === 0) return undefined;
  const own = await fsp.readlink('/proc/self/ns/pid').catch(() => undefined);
  for (const { pid, argv } of await processes()) {
    if (nspawn.has(pid) || isNspawnOn(argv, root)) continue;
    const ppid = parentPid(pid);
    if (ppid === undefined || !nspawn.has(ppid)) continue;
    const ns = await fsp.readlink(`/proc/${pid}/ns/pid`).catch(() => undefined);
    if (ns !== undefined && ns !== own) return pid;
  }
  return undefined;
}
