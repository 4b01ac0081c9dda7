/** Shared helpers: child processes with peak memory, timing, statistics, configs, rows. */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

export const CHILD = fileURLToPath(new URL('./child.mjs', import.meta.url));
export const TIME_BIN = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;
export const BENCH_TMP = '/var/tmp';

export function log(line) {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

export function tempDir(label) {
  mkdirSync(BENCH_TMP, { recursive: true });
  return mkdtempSync(join(BENCH_TMP, `nspawn-kit-bench-${label}-`));
}

/** A Config shaped like test/helpers/config.ts makeConfig (host facts are filled in by the child). */
export function makeConfig(base, overrides = {}) {
  return {
    file: undefined,
    stateDir: `${base}/state`,
    mirror: {
      root: `${base}/mirror`,
      archives: [{ path: `${base}/archives`, codename: 'bookworm' }],
      upstreams: {},
      architectures: ['amd64'],
      importer: 'native',
      validDays: 14,
      keep: 3,
      graceHours: 48,
      origin: 'nspawn-kit',
    },
    machines: { dir: `${base}/machines`, settingsDir: `${base}/nspawn`, unitDir: `${base}/units`, clone: 'auto' },
    schedule: { refresh: '17 3 * * *' },
    watch: { settleMs: 500, batchMs: 300 },
    recipeDirs: [],
    ...overrides,
  };
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function percentile(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

export function stats(samples) {
  return { median: median(samples), min: Math.min(...samples), max: Math.max(...samples), n: samples.length };
}

/** Runs a command (reference tools), returns wall ms; throws with stderr on failure. */
export function timeCommand(cmd, args, opts = {}) {
  const t = performance.now();
  const r = spawnSync(cmd, args, { stdio: ['ignore', opts.stdout ?? 'ignore', 'pipe'], cwd: opts.cwd, env: { ...process.env, LC_ALL: 'C', ...opts.env }, maxBuffer: 1 << 26 });
  const ms = performance.now() - t;
  if (r.error) throw r.error;
  if (r.status !== 0 && !opts.nothrow) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${String(r.stderr).slice(-600)}`);
  return { ms, status: r.status, stderr: String(r.stderr ?? '') };
}

export function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 26, ...opts });
  if (r.error) throw r.error;
  if (r.status !== 0 && !opts.nothrow) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${(r.stderr || r.stdout || '').slice(-600)}`);
  return r.stdout ?? '';
}

/**
 * Runs one nspawn-kit operation in a child (bench/lib/child.mjs) under
 * /usr/bin/time: returns the child's JSON result, the process wall time and
 * the peak RSS of the process tree (time's %M: the largest of node and the
 * tools it ran) beside node's own maxRSS.
 */
export function runChild(op, job, dir) {
  const jobFile = join(dir, `job-${op}-${process.hrtime.bigint()}.json`);
  writeFileSync(jobFile, JSON.stringify(job));
  const argv = TIME_BIN ? [TIME_BIN, ['-f', 'BENCH_TIME_MAXRSS=%M', process.execPath, CHILD, op, jobFile]] : [process.execPath, [CHILD, op, jobFile]];
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const p = spawn(argv[0], argv[1], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('error', reject);
    p.on('close', () => {
      const wallMs = performance.now() - t;
      rmSync(jobFile, { force: true });
      const lines = out.trim().split('\n');
      let result;
      try {
        result = JSON.parse(lines[lines.length - 1] ?? '');
      } catch {
        return reject(new Error(`child ${op} printed no result: ${(err || out).slice(-800)}`));
      }
      const m = /BENCH_TIME_MAXRSS=(\d+)/.exec(err);
      result.treeMaxRssKb = m ? Number(m[1]) : undefined;
      result.wallMs = wallMs;
      if (!result.ok) return reject(new Error(`${op}: ${result.error}`));
      resolve(result);
    });
  });
}

/** Peak and current RSS of a live process (kB) from /proc. */
export function procMemory(pid) {
  try {
    const text = sh('cat', [`/proc/${pid}/status`]);
    const get = (k) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? NaN);
    return { rssKb: get('VmRSS'), hwmKb: get('VmHWM') };
  } catch {
    return { rssKb: NaN, hwmKb: NaN };
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * A result row. unit 's' samples are in ms and shown in seconds; 'MB' in kB shown in MB.
 * target: { text, ok(value, ref) } evaluated on the median.
 */
export function row(group, name, samples, opts = {}) {
  const st = samples.length ? stats(samples) : undefined;
  const r = { group, case: name, unit: opts.unit ?? 's', samples, ...st, note: opts.note ?? '' };
  if (opts.p95) r.p95 = percentile(samples, 95);
  if (opts.reference) {
    r.reference = opts.reference.label;
    r.referenceMedian = opts.reference.median;
    if (st && opts.reference.median > 0) r.ratio = st.median / opts.reference.median;
  }
  if (opts.target) {
    r.target = opts.target.text;
    if (st) r.met = opts.target.ok(st.median, r.referenceMedian, r);
  }
  return r;
}

export function errorRow(group, name, err) {
  const message = err instanceof Error ? err.message : String(err);
  return { group, case: name, unit: 's', samples: [], error: message.split('\n')[0].slice(0, 300), note: `ERROR: ${message.split('\n')[0].slice(0, 200)}` };
}

export function skipRow(group, name, why) {
  return { group, case: name, unit: 's', samples: [], skipped: true, note: `skipped: ${why}` };
}

/** Unmounts anything below dir (deepest first), then removes it on its file system only. */
export function cleanup(dir) {
  if (!dir || !existsSync(dir)) return;
  stopGpgAgent(join(dir, 'state', 'gnupg'));
  try {
    const mounts = sh('cat', ['/proc/self/mountinfo'])
      .split('\n')
      .map((l) => l.split(' ')[4])
      .filter((m) => m && (m === dir || m.startsWith(`${dir}/`)))
      .sort((a, b) => b.length - a.length);
    for (const m of mounts) sh('umount', ['-l', '--', m], { nothrow: true });
  } catch {
    /* best effort: rm below stays on this file system */
  }
  sh('rm', ['-rf', '--one-file-system', '--', dir], { nothrow: true });
}

/** Signing starts a gpg-agent per GNUPGHOME; it would outlive the benchmark. */
export function stopGpgAgent(gnupgHome) {
  if (existsSync(gnupgHome)) sh('gpgconf', ['--homedir', gnupgHome, '--kill', 'all'], { nothrow: true });
}
