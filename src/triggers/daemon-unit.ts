/**
 * The text of `nspawn-kit-daemon.service`: the daemon sandboxed as far as its
 * real work allows, each exception justified in a comment in the file itself.
 *
 * What the daemon runs (daemon.ts, schedule.ts, mirror/refresh.ts, updates.ts,
 * warm*.ts, publish.ts): node, dpkg-deb, apt-ftparchive, gpg/gpg-agent/gpgconf,
 * xz, flock, sh; and for the nightly refresh apt-get in a private root and
 * `debootstrap --print-debs`, both downloading from the configured upstreams
 * (apt-get drops its download methods to the `_apt` user). It writes only
 * under stateDir and mirror.root (and the archive directories when apt-move
 * moves files out of them); it reads the archive directories, the machines'
 * apt caches and the recipes. It never boots or enters machines.
 * Measured with `systemd-analyze security` (systemd 252): 2.5 OK
 * (test/integration/triggers-units-security.test.ts); the work under these
 * restrictions rebuilt by hand: test/integration/triggers-units-sandbox.test.ts.
 */
import type { Config } from '../config/types.js';
import { systemdWord, unitWord } from '../quote.js';

export const DAEMON_UNIT = 'nspawn-kit-daemon.service';

/**
 * apt-get as root downloads as `_apt`: it chowns its partial directories to
 * _apt (CAP_CHOWN), sets their modes (CAP_FOWNER), reads back what _apt wrote
 * in them (CAP_DAC_OVERRIDE), and switches user and groups (CAP_SETUID,
 * CAP_SETGID). Each was measured necessary: without any one of them apt-get
 * update or download fails or falls back to downloading as root.
 */
export const DAEMON_CAPABILITIES = ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FOWNER', 'CAP_SETGID', 'CAP_SETUID'] as const;

/** Directories systemd's ProtectHome= hides, and PrivateTmp= replaces. */
const HOME_TREES = ['/home', '/root', '/run/user'];
const TMP_TREES = ['/tmp', '/var/tmp'];

function under(path: string, trees: string[]): boolean {
  return trees.some((t) => path === t || path.startsWith(`${t}/`));
}

/** A path in a space-separated list setting (ReadWritePaths=): quoted, but "$" is literal there; "-" makes it optional. */
function pathList(paths: string[]): string {
  return [...new Set(paths)].map((p) => unitWord(`-${p}`)).join(' ');
}

/** Everything the daemon writes: the private state and the published mirror; apt-move moves files out of the archive directories. */
export function daemonWritablePaths(config: Config): string[] {
  return [...new Set([config.stateDir, config.mirror.root, ...(config.mirror.importer === 'apt-move' ? config.mirror.archives.map((a) => a.path) : [])])];
}

/** Every path the daemon reads or writes or runs, for the choice of ProtectHome= and PrivateTmp=. */
function usedPaths(config: Config, execStart: string[]): string[] {
  return [
    ...daemonWritablePaths(config),
    ...config.mirror.archives.map((a) => a.path),
    config.machines.dir,
    ...config.recipeDirs,
    ...(config.file ? [config.file] : []),
    ...execStart.slice(0, 2),
  ];
}

/**
 * ProtectHome=yes and PrivateTmp=yes would hide a path the daemon needs:
 * then the weaker setting, with the path that forces it named in the file.
 */
function homeAndTmp(config: Config, execStart: string[]): string[] {
  const used = usedPaths(config, execStart);
  const inHome = used.find((p) => under(p, HOME_TREES));
  const inTmp = used.find((p) => under(p, TMP_TREES));
  return [
    ...(inHome
      ? [`# ${JSON.stringify(inHome)} is under ${HOME_TREES.join(', ')}: home directories stay visible, read-only (move it out for ProtectHome=yes).`, 'ProtectHome=read-only']
      : ['ProtectHome=yes']),
    ...(inTmp
      ? [`# ${JSON.stringify(inTmp)} is under ${TMP_TREES.join(' or ')}: a private /tmp would hide it (move it out for PrivateTmp=yes).`, 'PrivateTmp=no']
      : ['PrivateTmp=yes']),
  ];
}

/** The unit file; execStart is the whole command line (node, the CLI, its options, `daemon`). */
export function renderDaemonUnit(config: Config, execStart: string[]): string {
  return [
    '# Written by `nspawn-kit install-units`; rewrite it with the same command.',
    '[Unit]',
    'Description=nspawn-kit: keep the local signed apt mirror current (watch apt archives, nightly refresh)',
    'Documentation=man:nspawn-kit(1)',
    'After=local-fs.target network-online.target',
    'Wants=network-online.target',
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${execStart.map((w) => systemdWord(w)).join(' ')}`,
    // The journal names the program, not the interpreter (node).
    'SyslogIdentifier=nspawn-kit',
    'Restart=on-failure',
    'RestartSec=5s',
    // SIGTERM lets a publish in progress finish; give it time before SIGKILL.
    'KillMode=mixed',
    'TimeoutStopSec=120s',
    '',
    '# Sandbox (`systemd-analyze security nspawn-kit-daemon.service`). The daemon imports',
    '# .debs, publishes and signs the mirror, and nightly downloads from the upstreams;',
    '# it never boots machines. It writes only the state directory and the mirror.',
    'ProtectSystem=strict',
    `ReadWritePaths=${pathList(daemonWritablePaths(config))}`,
    ...homeAndTmp(config, execStart),
    'PrivateDevices=yes',
    'PrivateIPC=yes',
    'PrivateMounts=yes',
    'NoNewPrivileges=yes',
    'ProtectKernelTunables=yes',
    'ProtectKernelModules=yes',
    'ProtectKernelLogs=yes',
    'ProtectControlGroups=yes',
    'ProtectHostname=yes',
    // Hides processes that hold capabilities the daemon lacks (an admin's CLI): it tells a
    // live writer by kill(pid, 0), which this does not change; only the "waiting for PID"
    // message may then name the lock's flock process instead of its parent.
    'ProtectProc=invisible',
    'RestrictRealtime=yes',
    'RestrictSUIDSGID=yes',
    'LockPersonality=yes',
    'RestrictNamespaces=yes',
    'RemoveIPC=yes',
    '# Remaining points, each needed by the real work:',
    '# - CAP_SETUID/CAP_SETGID, CAP_CHOWN, CAP_FOWNER, CAP_DAC_OVERRIDE: apt-get downloads as',
    '#   the _apt user (it chowns its partial directories to _apt and switches to it), so the',
    '#   download code never runs as root next to the signing key; each one measured necessary.',
    `CapabilityBoundingSet=${DAEMON_CAPABILITIES.join(' ')}`,
    'AmbientCapabilities=',
    '# - @privileged stays allowed: apt-get calls setgroups, setresuid and chown for _apt;',
    '#   the rest of it (@clock @module @mount @raw-io @reboot @swap ...) is outside @system-service.',
    '#   @resources (setrlimit, setpriority, sched_setaffinity, ...) is denied: nothing the daemon',
    '#   runs calls it (traced); gpg raises its limits with prlimit64, which @default allows.',
    'SystemCallArchitectures=native',
    'SystemCallFilter=@system-service',
    'SystemCallFilter=~@resources',
    'SystemCallErrorNumber=EPERM',
    '# - AF_INET/AF_INET6 and the host network (no PrivateNetwork=, no IPAddressDeny=): the',
    '#   nightly refresh downloads from the configured upstreams, whose addresses are not known',
    '#   in advance (names resolved by DNS, mirrors and CDNs change). AF_UNIX: gpg talks to',
    '#   gpg-agent over a socket in the signing key\'s home, and DNS through nss.',
    'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6',
    '# - No PrivateUsers=: apt-get switches to _apt, which a private user namespace does not map.',
    '# - ProcSubset=all: the busy message names the mirror lock\'s holder from /proc/locks.',
    '# - UMask=0022: the published mirror (pool, dists, mirror.asc) must be world-readable for',
    '#   apt and `mirror serve`; the signing key\'s home is created 0700 whatever the umask.',
    'UMask=0022',
    '# - No MemoryDenyWriteExecute=: node\'s JIT (V8) needs writable executable memory.',
    '# - No ProtectClock=: it would add DeviceAllow=char-rtc, a device the daemon never uses;',
    '#   without CAP_SYS_TIME and with @clock outside the filter, the clock is out of reach anyway.',
    '# - No User=/DynamicUser=, no RootDirectory=: root is needed for the _apt switch and to',
    '#   write the root-owned mirror; it runs the host\'s tools (apt, gpg, dpkg-deb, debootstrap).',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}
