/**
 * How `nspawn-kit upgrade` runs apt in a machine, offline, from the local
 * mirror only: the script (dpkg --configure -a for an interrupted upgrade,
 * apt-get update from one sources file, List-Cleanup off, then `upgrade
 * --with-new-pkgs` keeping changed configuration files), and the two ways in:
 * - a stopped machine: a non-booted systemd-nspawn with no network, the
 *   mirror bound read-only (nspawn-argv.ts offlineRunCommand);
 * - a running one: nsenter into every namespace and the root of its leader
 *   (the container's PID 1, found among the host's processes: the child of
 *   its systemd-nspawn that lives in another PID namespace). That works
 *   with or without systemd as the host's PID 1 and whether or not machined
 *   knows the machine (nspawn-kit starts it with --register=no). A process
 *   entering from outside is not under nspawn's seccomp filter nor in the
 *   machine's cgroup: it gets no more capabilities than the container's own
 *   bounding set, less the ones that filter guards, and no_new_privs. With
 *   private users its capabilities are those of the machine's user
 *   namespace; without, it still runs the machine's binaries as host root
 *   (with sys_admin), so upgrade.ts asks for an explicit --inside then.
 */
import { promises as fsp } from 'node:fs';
import { parentPid, processes } from '../proc.js';
import type { Command } from '../shell.js';
import { isNspawnOn, nspawnPids } from './boot.js';

/**
 * First, what an interrupted upgrade (Ctrl-C during dpkg) left unpacked or
 * half-configured: apt-get refuses to upgrade until `dpkg --configure -a` has
 * run. Nothing happens when nothing is pending.
 */
const CONFIGURE_PENDING = 'dpkg --force-confdef --force-confold --configure -a';

/**
 * Before each apt-get, the sources file must still be there: apt takes a
 * missing Dir::Etc::SourceList for an empty one (a warning, exit 0, even
 * with --error-on=any) and would "upgrade" from the lists it already had.
 */
const sourcesThere = (src: string): string => `[ -s ${src} ] || { echo "nspawn-kit: the upgrade's sources file "${src}" is gone or empty" >&2; exit 1; }`;

/** apt-get update, then upgrade, from the one sources file named by the shell word src ("$1", "$src"). */
function aptLines(src: string): string[] {
  return [
    sourcesThere(src),
    `apt-get -q -o Dpkg::Use-Pty=0 -o Dir::Etc::SourceList=${src} -o Dir::Etc::SourceParts=- -o APT::Get::List-Cleanup=0 update --error-on=any`,
    sourcesThere(src),
    `apt-get -q -y -o Dpkg::Use-Pty=0 -o Dir::Etc::SourceList=${src} -o Dir::Etc::SourceParts=- -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold upgrade --with-new-pkgs`,
  ];
}

/**
 * A stopped machine (no process of it alive while the host writes in its
 * root). Arguments: $1 = the sources file the host wrote (inside the
 * machine). Every value reaches apt as "$1", never inside the text.
 */
export const UPGRADE_SCRIPT = ['set -e', CONFIGURE_PENDING, ...aptLines('"$1"')].join('\n');

/** The stopped machine's script argv (after nspawn's "--"). */
export function upgradeArgv(sourcesFile: string): string[] {
  return ['/bin/sh', '-c', UPGRADE_SCRIPT, 'nspawn-kit-upgrade', sourcesFile];
}

/**
 * A running machine: the host writes and removes nothing in its root (root
 * in it could swap a directory for a symlink between the host's resolution
 * and its write, and redirect the write or the removal onto the host). The
 * script, in the machine's mount namespace and root, writes the sources to a
 * mktemp file beside the provenance (.sources: apt reads it as deb822)
 * removed on exit, and after a
 * successful upgrade the provenance, atomically (a temporary file beside it,
 * then mv). Arguments, reaching it only as argv: $1 = the provenance path,
 * $2 = the sources text, $3 = the provenance text.
 */
export const INSIDE_UPGRADE_SCRIPT = [
  'set -e',
  'src= new=',
  'trap \'rm -f -- ${src:+"$src"} ${new:+"$new"}\' EXIT',
  "trap 'exit 129' HUP",
  "trap 'exit 130' INT",
  "trap 'exit 143' TERM",
  CONFIGURE_PENDING,
  // Beside the provenance, not in /tmp: systemd-tmpfiles empties /tmp at boot, under an upgrade that entered early.
  'src=$(mktemp --suffix=.sources -- "${1%/*}/upgrade.XXXXXX")',
  'printf %s "$2" >"$src"',
  ...aptLines('"$src"'),
  'new=$(mktemp -- "$1.XXXXXX")',
  'printf %s "$3" >"$new"',
  'chmod 644 -- "$new"',
  'mv -f -- "$new" "$1"',
  'new=',
].join('\n');

/** The running machine's script argv (after nsenter's env): what to write is in argv, never in the script. */
export function insideUpgradeArgv(provenancePath: string, sources: string, provenance: string): string[] {
  return ['/bin/sh', '-c', INSIDE_UPGRADE_SCRIPT, 'nspawn-kit-upgrade', provenancePath, sources, provenance];
}

/** A clean environment inside: nothing of the caller's (locale, proxies, PATH) leaks into the machine. */
const INSIDE_ENV = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'DEBIAN_FRONTEND=noninteractive', 'LC_ALL=C.UTF-8'];

/** Capability names by bit (linux/capability.h), as setpriv(1) spells them. */
const CAPABILITIES = [
  'chown', 'dac_override', 'dac_read_search', 'fowner', 'fsetid', 'kill', 'setgid', 'setuid', 'setpcap', 'linux_immutable',
  'net_bind_service', 'net_broadcast', 'net_admin', 'net_raw', 'ipc_lock', 'ipc_owner', 'sys_module', 'sys_rawio', 'sys_chroot', 'sys_ptrace',
  'sys_pacct', 'sys_admin', 'sys_boot', 'sys_nice', 'sys_resource', 'sys_time', 'sys_tty_config', 'mknod', 'lease', 'audit_write',
  'audit_control', 'setfcap', 'mac_override', 'mac_admin', 'syslog', 'wake_alarm', 'block_suspend', 'audit_read', 'perfmon', 'bpf',
  'checkpoint_restore',
] as const;

/**
 * Capabilities nspawn leaves a container but guards with its seccomp filter
 * or device policy, which a process entering from outside does not get:
 * kexec_load (sys_boot), open_by_handle_at (dac_read_search, the "shocker"
 * escape), device nodes (mknod). apt and dpkg need none of them.
 */
const GUARDED = new Set(['sys_boot', 'dac_read_search', 'mknod']);

/**
 * The capabilities to drop before entering: every one the container's own
 * bounding set lacks (bits of /proc/<leader>/status CapBnd) and the guarded
 * ones, among those the kernel knows (cap_last_cap). nsenter itself keeps
 * sys_admin and sys_chroot (setns, the root).
 */
export function capabilitiesToDrop(leaderBounding: bigint, lastCap: number): string[] {
  const drop: string[] = [];
  CAPABILITIES.forEach((name, bit) => {
    if (bit > lastCap || name === 'sys_admin' || name === 'sys_chroot') return;
    if (GUARDED.has(name) || (leaderBounding & (1n << BigInt(bit))) === 0n) drop.push(name);
  });
  return drop;
}

/**
 * Into a running machine: setpriv (the host's, run before anything of the
 * machine) drops the capabilities above and sets no_new_privs, then nsenter
 * enters every namespace of its leader (the user namespace too, with
 * private users), its root and working directory; env -i leaves nothing of
 * the caller's environment.
 */
export function nsenterCommand(leader: number, drop: readonly string[], argv: readonly string[]): Command {
  const bounding = drop.length ? [`--bounding-set=${drop.map((c) => `-${c}`).join(',')}`] : [];
  return [
    'setpriv',
    ['--no-new-privs', ...bounding, '--', 'nsenter', `--target=${leader}`, '--all', '--root', '--wd', '--', '/usr/bin/env', '-i', ...INSIDE_ENV, ...argv],
  ];
}

/** How the running machine is entered: its leader, whether it has a user namespace of its own, the capabilities to drop. */
export interface Entry {
  leader: number;
  ownUserNamespace: boolean;
  drop: string[];
}

export async function entryOf(leader: number): Promise<Entry> {
  const status = await fsp.readFile(`/proc/${leader}/status`, 'utf8');
  const bounding = /^CapBnd:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  const lastCap = Number((await fsp.readFile('/proc/sys/kernel/cap_last_cap', 'utf8')).trim());
  const [theirs, ours] = await Promise.all([fsp.readlink(`/proc/${leader}/ns/user`), fsp.readlink('/proc/self/ns/user')]);
  // No bounding set to read (the process is gone, or not one we can read): drop everything droppable.
  return { leader, ownUserNamespace: theirs !== ours, drop: capabilitiesToDrop(bounding ? BigInt(`0x${bounding}`) : 0n, Number.isInteger(lastCap) ? lastCap : 40) };
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
