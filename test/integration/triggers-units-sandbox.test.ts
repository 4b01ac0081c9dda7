/**
 * The daemon unit's sandbox does not break the daemon's work, piecemeal
 * (systemd is not PID 1 on build hosts, so the unit itself cannot run here):
 * the integration tests of that work (warm and the nightly refresh with real
 * apt-get and debootstrap from a local upstream, publish and signing with
 * gpg, the daemon watching and publishing) run again
 * - in a private mount namespace where every mount is read-only but a fresh
 *   /tmp and /var/tmp, where the tests keep state and mirror (as
 *   ProtectSystem=strict with PrivateTmp=yes and ReadWritePaths= for those),
 *   with /home, /root and /run/user empty and read-only (ProtectHome=yes);
 * - under the unit's capability bounding set and no_new_privs (setpriv);
 * - with every system call of @resources, which the unit's filter denies,
 *   failing with EPERM as SystemCallErrorNumber=EPERM makes it (strace fault
 *   injection).
 * Not covered here: the rest of the system call filter, the other settings,
 * and systemd applying them (the nested-systemd tier runs the unit for real).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { DAEMON_CAPABILITIES } from '../../src/triggers/daemon-unit.js';
import { ROOT } from '../helpers/cli.js';

const have = (tool: string) => spawnSync('sh', ['-c', 'command -v "$1"', 'sh', tool]).status === 0;
const skip =
  process.getuid?.() !== 0
    ? 'needs root (the capability bounding set of a root service)'
    : ['setpriv', 'strace', 'systemd-analyze'].filter((t) => !have(t)).map((t) => `${t} is missing (it is in .ci/debian-packages.txt: npm run pretest)`)[0];

/** The system calls of a systemd group, as this systemd lists them. */
function syscallGroup(group: string): string[] {
  const out = spawnSync('systemd-analyze', ['syscall-filter', '--no-pager', group], { encoding: 'utf8' }).stdout;
  return out
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^[a-z_0-9]+$/.test(l));
}

/** ProtectSystem=strict + PrivateTmp=yes + ProtectHome=yes, as far as mount(8) can say it; then runs its arguments. */
const READ_ONLY_HOST = [
  'set -e',
  'mount --make-rprivate /',
  'for t in /tmp /var/tmp; do mount -t tmpfs -o mode=1777 tmpfs "$t"; done',
  'for mp in $(awk \'{print $5}\' /proc/self/mountinfo | sort -u); do',
  '  case "$mp" in /proc|/proc/*|/sys|/sys/*|/dev|/dev/*|/tmp|/tmp/*|/var/tmp|/var/tmp/*) continue;; esac',
  '  mount -o remount,bind,ro -- "$mp"',
  'done',
  'for h in /home /root /run/user; do if [ -d "$h" ]; then mount -t tmpfs -o ro,mode=000 tmpfs "$h"; fi; done',
  'if touch /etc/nk-sandbox-probe 2>/dev/null || touch /var/lib/nk-sandbox-probe 2>/dev/null; then echo "the host is still writable" >&2; exit 98; fi',
  'exec "$@"',
].join('\n');

test('warm, refresh, publish and the daemon pass on a read-only host, under the unit\'s bounding set, no_new_privs and @resources denied', () => {
  if (skip) return console.log(`  (skipped: ${skip})`);
  const denied = syscallGroup('@resources');
  assert.ok(denied.includes('setrlimit') && denied.includes('setpriority'), denied.join(','));
  const caps = DAEMON_CAPABILITIES.map((c) => `+${c.slice(4).toLowerCase()}`).join(',');
  const r = spawnSync(
    'unshare',
    [
      '--mount',
      '--propagation',
      'private',
      '--',
      'sh',
      '-c',
      READ_ONLY_HOST,
      'sh',
      'setpriv',
      `--bounding-set=-all,${caps}`,
      '--inh-caps=-all',
      '--no-new-privs',
      '--',
      'strace',
      '-f',
      '-qq',
      '-o',
      '/dev/null',
      '-e',
      `trace=${denied.join(',')}`,
      '-e',
      `inject=${denied.join(',')}:error=EPERM`,
      process.execPath,
      'test/run.mjs',
      'integration',
      '--filter',
      '^(mirror-warm-suites|triggers-daemon)\\.test\\.ts$',
    ],
    { cwd: ROOT, encoding: 'utf8', timeout: 900_000 },
  );
  const tail = `${r.stdout}\n${r.stderr}`.slice(-4000);
  assert.is(r.status, 0, tail);
  // Both files ran and every test in them passed (none skipped for a missing tool).
  assert.match(r.stdout, /^mirror-warm-suites\.test\.ts$/m, tail);
  assert.match(r.stdout, /^triggers-daemon\.test\.ts$/m, tail);
  assert.match(r.stdout, /^ {2}integration: (\d+) passed, 0 failed$/m, tail);
  assert.not.match(r.stdout, /Skipped: +[1-9]/, tail);
  // The bounding set really was the unit's: the inner processes could not hold CAP_SYS_ADMIN.
  const probe = spawnSync('setpriv', [`--bounding-set=-all,${caps}`, '--', 'grep', '^CapBnd:', '/proc/self/status'], { encoding: 'utf8' });
  const bnd = BigInt(`0x${probe.stdout.split(/\s+/)[1]}`);
  // CAP_CHOWN 0, CAP_DAC_OVERRIDE 1, CAP_FOWNER 3, CAP_SETGID 6, CAP_SETUID 7.
  assert.is(bnd, (1n << 0n) | (1n << 1n) | (1n << 3n) | (1n << 6n) | (1n << 7n));
});

test('the check can fail: without CAP_SETUID and CAP_SETGID, apt-get cannot switch to _apt and warm fails', () => {
  if (skip) return console.log(`  (skipped: ${skip})`);
  const caps = DAEMON_CAPABILITIES.filter((c) => c !== 'CAP_SETUID' && c !== 'CAP_SETGID').map((c) => `+${c.slice(4).toLowerCase()}`);
  const r = spawnSync(
    'setpriv',
    [`--bounding-set=-all,${caps.join(',')}`, '--inh-caps=-all', '--no-new-privs', '--', process.execPath, 'test/run.mjs', 'integration', '--filter', '^mirror-warm-suites\\.test\\.ts$'],
    { cwd: ROOT, encoding: 'utf8', timeout: 600_000 },
  );
  assert.is.not(r.status, 0);
  assert.match(`${r.stdout}${r.stderr}`, /E: (setgroups|setegid|seteuid) \d+ failed - \w+ \(1: Operation not permitted\)/);
});

test.run();
