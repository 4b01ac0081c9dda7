/**
 * Nesting for the e2e tier: running a command inside a booted machine as one
 * of its own services, so it has the machine's capability bounding set,
 * seccomp filter and cgroup (a bare nsenter would keep the host's), and
 * whether systemd-nspawn can start a container there at all.
 */
import { spawnSync } from 'node:child_process';

export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment a command gets from the test: nothing of the test runner's (no NODE_EXTRA_CA_CERTS and the like). */
const CLEAN_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' };

/** Enters every namespace and the root of the machine whose PID 1 is leader (a process of the host, not of the machine). */
function nsenter(leader: number, argv: string[], timeoutMs: number): Ran {
  const r = spawnSync('nsenter', [`--target=${leader}`, '--all', '--root', '--wd', '--', ...argv], { encoding: 'utf8', env: CLEAN_ENV, stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** Waits for the machine's systemd to finish starting up; its state (running, degraded, ...). */
export function systemState(leader: number, timeoutMs = 180_000): string {
  return nsenter(leader, ['systemctl', 'is-system-running', '--wait'], timeoutMs).stdout.trim();
}

/**
 * argv as a transient service of the machine's systemd (systemd-run --wait
 * --pipe): its output and exit code come back here.
 */
export function inMachine(leader: number, argv: string[], timeoutMs = 600_000): Ran {
  return nsenter(leader, ['systemd-run', '--quiet', '--wait', '--pipe', '--collect', '--service-type=exec', '--working-directory=/', '--', ...argv], timeoutMs);
}

/**
 * Whether a throwaway container (the machine's own /usr, --volatile=yes)
 * starts inside the booted machine: undefined when it does, else why not,
 * the reason to print when the nested tier is skipped. Probed in a booted
 * machine, not on the host: nested systemd-nspawn needs the cgroup tree that
 * systemd as PID 1 delegates (a bare nspawn-in-nspawn on a host without
 * systemd fails for that reason, or races with other containers for the
 * root cgroup's payload/ and supervisor/).
 */
export function nestingProblem(leader: number): string | undefined {
  const r = inMachine(leader, ['systemd-nspawn', '--quiet', '--register=no', '--volatile=yes', '--directory=/', '--machine=nk-nest-probe', '--', '/bin/sh', '-c', 'echo nested-ok'], 120_000);
  if (r.code === 0 && r.stdout.includes('nested-ok')) return undefined;
  return `systemd-nspawn cannot start a container inside a booted machine on this host (exit ${r.code}): ${r.stderr.trim().split('\n').slice(-3).join(' / ')}`;
}

/** Polls check every 500 ms until it returns true or timeoutMs passes; whether it did. */
export async function waitFor(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 500));
  }
  return check();
}
