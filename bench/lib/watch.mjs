/**
 * Case 3 (issue 5): the watcher. Latency from the last write of a .deb into
 * a watched directory to the signed index listing it (the daemon's watch half
 * in a child: chokidar, settle, validate, import, publish, sign; default
 * settleMs 500 / batchMs 300), and the bare watcher's resident memory with
 * many files in the watched directory (hard links of one valid .deb).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { debBytes, debFileName } from './debgen.mjs';
import { CHILD, cleanup, errorRow, log, makeConfig, percentile, procMemory, row, sleep, tempDir } from './util.mjs';

const group = 'watch';

/** A long-running child (bench/lib/child.mjs watch) and its JSON event lines. */
function startWatchChild(job, dir) {
  const jobFile = join(dir, 'watch-job.json');
  writeFileSync(jobFile, JSON.stringify(job));
  const p = spawn(process.execPath, [CHILD, 'watch', jobFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  const events = [];
  const waiters = [];
  let buf = '';
  let stderr = '';
  p.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  p.stdout.on('data', (d) => {
    buf += d;
    const lines = buf.split('\n');
    buf = lines.pop() ?? '';
    for (const l of lines) {
      try {
        const e = JSON.parse(l);
        events.push(e);
        for (const w of [...waiters]) if (w.pred(e)) (waiters.splice(waiters.indexOf(w), 1), w.resolve(e));
      } catch {
        /* not ours */
      }
    }
  });
  const exited = new Promise((r) => p.on('close', r));
  const waitFor = (pred, ms, what) =>
    new Promise((resolve, reject) => {
      const hit = events.find(pred);
      if (hit) return resolve(hit);
      const t = setTimeout(() => reject(new Error(`watch child: no ${what} within ${ms} ms; stderr: ${stderr.slice(-400)}`)), ms);
      waiters.push({ pred, resolve: (e) => (clearTimeout(t), resolve(e)) });
      void exited.then(() => reject(new Error(`watch child exited; stderr: ${stderr.slice(-600)}`)));
    });
  const stop = async () => {
    if (p.exitCode !== null) return;
    p.kill('SIGTERM');
    await Promise.race([exited, sleep(10000)]);
    if (p.exitCode === null) p.kill('SIGKILL');
  };
  return { p, events, waitFor, stop };
}

const sha = (path) => {
  try {
    return createHash('sha256').update(readFileSync(path)).digest('hex');
  } catch {
    return '';
  }
};

/** Writes like a copy would (chunks, then close), returns when the last write completed. */
function copyInto(path, bytes) {
  const fd = openSync(path, 'w');
  for (let off = 0; off < bytes.length; off += 4096) writeSync(fd, bytes, off, Math.min(4096, bytes.length - off));
  fsyncSync(fd);
  closeSync(fd);
  return performance.now();
}

async function latency(plan) {
  const base = tempDir('watch');
  const config = makeConfig(base);
  mkdirSync(config.mirror.archives[0].path, { recursive: true });
  mkdirSync(config.machines.dir, { recursive: true });
  const child = startWatchChild({ config }, base);
  const dists = join(config.mirror.root, 'dists', 'bookworm');
  try {
    await child.waitFor((e) => e.event === 'started', 30000, 'start');
    const samples = [];
    // Round 0 creates the signing key and the first publication: not counted.
    for (let r = 0; r <= plan.watchRounds; r++) {
      const name = `watch-r${r}`;
      const before = sha(join(dists, 'InRelease'));
      const tLast = copyInto(join(config.mirror.archives[0].path, debFileName(name)), debBytes(name));
      let done;
      while (performance.now() - tLast < 60000) {
        const now = sha(join(dists, 'InRelease'));
        if (now && now !== before) {
          let packages = '';
          try {
            packages = readFileSync(join(dists, 'main', 'binary-amd64', 'Packages'), 'utf8');
          } catch {
            /* not yet */
          }
          if (packages.includes(`\nPackage: ${name}\n`) || packages.startsWith(`Package: ${name}\n`)) {
            done = performance.now();
            break;
          }
        }
        await sleep(10);
      }
      if (done === undefined) throw new Error(`round ${r}: ${name} not in the signed index after 60 s`);
      if (r > 0) samples.push(done - tLast);
      log(`watch: round ${r}/${plan.watchRounds}: ${((done - tLast) / 1000).toFixed(2)} s`);
      await sleep(150);
    }
    const mem = procMemory(child.p.pid);
    const via = child.events.find((e) => e.event === 'started')?.via;
    return {
      rows: [
        row(group, `nspawn-kit watcher latency: last write -> signed index (${via})`, samples, {
          p95: true,
          target: { text: 'median < 2 s', ok: (m) => m < 2000 },
          note: `settleMs ${config.watch.settleMs}, batchMs ${config.watch.batchMs}; one .deb per round`,
        }),
      ],
      memory: [['daemon (watch + import + publish)', `${plan.watchRounds} rounds`, { maxRssKb: mem.hwmKb }]],
    };
  } finally {
    await child.stop();
    cleanup(base);
  }
}

async function residentMemory(plan) {
  const base = tempDir('watch-mem');
  const config = makeConfig(base);
  const dir = config.mirror.archives[0].path;
  mkdirSync(dir, { recursive: true });
  const n = plan.memFiles;
  const label = n.toLocaleString('en-US');
  try {
    // Baseline: the same process watching an empty directory (node + zx + chokidar + nspawn-kit modules).
    const emptyBase = join(base, 'empty');
    const emptyConfig = makeConfig(emptyBase);
    mkdirSync(emptyConfig.mirror.archives[0].path, { recursive: true });
    const idle = startWatchChild({ config: emptyConfig, watchOnly: true }, base);
    let idleKb;
    try {
      await idle.waitFor((e) => e.event === 'ready', 60000, 'ready (empty directory)');
      await sleep(2000);
      idleKb = procMemory(idle.p.pid).hwmKb;
    } finally {
      await idle.stop();
    }
    log(`watch: ${label} hard links of one valid .deb`);
    const first = join(base, 'one.deb');
    writeFileSync(first, debBytes('watch-mem'));
    for (let i = 0; i < n; i++) linkSync(first, join(dir, debFileName(`m${String(i).padStart(6, '0')}`)));
    const t0 = performance.now();
    const child = startWatchChild({ config, watchOnly: true }, base);
    try {
      const ready = await child.waitFor((e) => e.event === 'ready', 120000, 'ready');
      const tReady = performance.now() - t0;
      const atReady = procMemory(child.p.pid);
      // Every file is validated once at start (reconcile: two dpkg-deb runs
      // each); watch memory while that runs, for a bounded window.
      const limit = tReady + (plan.memFiles > 5000 ? 90000 : 30000);
      let decided = 0;
      const samples = [atReady.rssKb];
      while (performance.now() - t0 < limit) {
        const last = [...child.events].reverse().find((e) => e.event === 'decided');
        decided = last?.n ?? 0;
        samples.push(procMemory(child.p.pid).rssKb);
        if (decided >= n - (n % 500)) break;
        await sleep(1000);
      }
      const end = procMemory(child.p.pid);
      return {
        rows: [
          row(group, `watcher resident memory, ${label} files watched`, [end.hwmKb], {
            unit: 'MB',
            target: { text: '< 100 MB', ok: (m) => m < 100 * 1024 },
            note: `peak (VmHWM); the same process watching an empty directory: ${(idleKb / 1024).toFixed(1)} MB; RSS at ready ${(atReady.rssKb / 1024).toFixed(1)} MB after ${(tReady / 1000).toFixed(1)} s (ready reported ${ready.files} files); ${decided}/${n} validated in ${((performance.now() - t0) / 1000).toFixed(0)} s${decided < n - (n % 500) ? ' (observation window ended first)' : ''}; bare watcher, no import`,
          }),
        ],
        memory: [],
      };
    } finally {
      await child.stop();
    }
  } finally {
    cleanup(base);
  }
}

export async function watchCase(plan) {
  const rows = [];
  const memory = [];
  for (const [name, fn] of [
    ['watcher latency', latency],
    ['watcher resident memory', residentMemory],
  ]) {
    try {
      const out = await fn(plan);
      rows.push(...out.rows);
      memory.push(...out.memory);
    } catch (err) {
      log(`${name} failed: ${err instanceof Error ? err.stack : err}`);
      rows.push(errorRow(group, name, err));
    }
  }
  return { rows, memory };
}
