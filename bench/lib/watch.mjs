/**
 * Case 3 (issue 5): the watcher, as users run it: `nspawn-kit --config FILE
 * --json watch` (dist/cli.js in its own process, exactly the command the
 * systemd unit and install-units' watcher line start, only the verb differs
 * from `daemon`). Latency from the last write of a .deb into a watched
 * directory to the signed index listing it (settle, validate, import,
 * publish, sign; default settleMs 500 / batchMs 300), and the process's
 * resident memory with many files in the watched directory (hard links of one
 * valid .deb): its peak (VmHWM) over the whole start-up reconcile, i.e. until
 * every file was validated, imported and published.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { debBytes, debFileName } from './debgen.mjs';
import { cleanup, errorRow, log, makeConfig, procMemory, row, sleep, tempDir } from './util.mjs';

const group = 'watch';
const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

/**
 * `nspawn-kit --json watch` in its own process; its event log (JSON lines on
 * stdout since issue 15; stderr carries the runs' log and progress events, kept as the tail).
 */
function startWatchCli(config, dir) {
  const configFile = join(dir, 'nspawnrc.json');
  const { file: _file, ...onDisk } = config;
  writeFileSync(configFile, JSON.stringify(onDisk));
  const p = spawn(process.execPath, [CLI, '--config', configFile, '--json', 'watch'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const events = [];
  const counts = new Map();
  const waiters = [];
  let buf = '';
  let tail = '';
  const exited = new Promise((r) => p.on('close', r));
  p.stderr.on('data', (d) => {
    tail = `${tail}${d}`.slice(-2000);
  });
  p.stdout.on('data', (d) => {
    buf += d;
    const lines = buf.split('\n');
    buf = lines.pop() ?? '';
    for (const l of lines) {
      let e;
      try {
        e = JSON.parse(l);
      } catch {
        tail = `${tail}${l}\n`.slice(-2000);
        continue;
      }
      counts.set(e.event, (counts.get(e.event) ?? 0) + 1);
      // One 'file' line per settled file: counted, not kept.
      if (e.event !== 'file') events.push(e);
      else tail = `${tail}${l}\n`.slice(-2000);
      for (const w of [...waiters]) if (w.pred(e)) (waiters.splice(waiters.indexOf(w), 1), w.resolve(e));
    }
  });
  const waitFor = (pred, ms, what) =>
    new Promise((resolve, reject) => {
      const hit = events.find(pred);
      if (hit) return resolve(hit);
      const t = setTimeout(() => reject(new Error(`nspawn-kit watch: no ${what} within ${ms} ms; stderr: ${tail.slice(-400)}`)), ms);
      waiters.push({ pred, resolve: (e) => (clearTimeout(t), resolve(e)) });
      void exited.then(() => reject(new Error(`nspawn-kit watch exited (${p.exitCode}); stderr: ${tail.slice(-600)}`)));
    });
  const stop = async () => {
    if (p.exitCode !== null || p.signalCode !== null) return;
    // First SIGTERM: the run in progress finishes; a second one aborts it.
    p.kill('SIGTERM');
    await Promise.race([exited, sleep(5000)]);
    if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
    await Promise.race([exited, sleep(10000)]);
    if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  };
  const count = (event) => counts.get(event) ?? 0;
  return { p, events, count, waitFor, stop };
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
  const child = startWatchCli(config, base);
  const dists = join(config.mirror.root, 'dists', 'bookworm');
  try {
    await child.waitFor((e) => e.event === 'daemon-ready', 30000, 'daemon-ready');
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
    return {
      rows: [
        row(group, 'nspawn-kit watcher latency: last write -> signed index (nspawn-kit watch)', samples, {
          p95: true,
          target: { text: 'median < 2 s', ok: (m) => m < 2000 },
          note: `settleMs ${config.watch.settleMs}, batchMs ${config.watch.batchMs}; one .deb per round`,
        }),
      ],
      memory: [['nspawn-kit watch (watch + import + publish)', `${plan.watchRounds} rounds`, { maxRssKb: mem.hwmKb }]],
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
  mkdirSync(config.machines.dir, { recursive: true });
  const n = plan.memFiles;
  const label = n.toLocaleString('en-US');
  try {
    // Baseline: the same command watching an empty directory.
    const emptyBase = join(base, 'empty');
    const emptyConfig = makeConfig(emptyBase);
    mkdirSync(emptyConfig.mirror.archives[0].path, { recursive: true });
    const idle = startWatchCli(emptyConfig, emptyBase);
    let idleKb;
    try {
      await idle.waitFor((e) => e.event === 'daemon-ready', 60000, 'daemon-ready (empty directory)');
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
    const child = startWatchCli(config, base);
    try {
      const ready = await child.waitFor((e) => e.event === 'ready', 120000, 'ready');
      const tReady = performance.now() - t0;
      const atReady = procMemory(child.p.pid);
      // The start-up reconcile: every file is validated by the watcher, then
      // imported (validated again, on its pool copy) and published. Until
      // every file is decided and no run is pending or in progress (bounded).
      const limit = tReady + (n > 5000 ? 40 : 10) * 60000;
      const decided = () => child.count('file') + child.count('invalid');
      const busy = () => child.count('run-start') > child.count('run-end') + child.count('run-failed');
      let lastLog = 0;
      let quietSince;
      let done = false;
      while (performance.now() - t0 < limit) {
        const now = performance.now();
        if (decided() >= n && !busy()) {
          // A batch may still be on its way to the runner: idle for 3 s counts as done.
          quietSince ??= now;
          if (now - quietSince > 3000) {
            done = true;
            break;
          }
        } else quietSince = undefined;
        if (now - lastLog > 30000) {
          lastLog = now;
          const m = procMemory(child.p.pid);
          log(`watch: ${decided()}/${n} decided, ${child.count('run-end')} run(s) done, RSS ${(m.rssKb / 1024).toFixed(1)} MB, peak ${(m.hwmKb / 1024).toFixed(1)} MB`);
        }
        await sleep(500);
      }
      const end = procMemory(child.p.pid);
      const secs = (performance.now() - t0) / 1000;
      return {
        rows: [
          row(group, `watcher resident memory, ${label} files watched (nspawn-kit watch)`, [end.hwmKb], {
            unit: 'MB',
            target: { text: '< 100 MB', ok: (m) => m < 100 * 1024 },
            note: `peak (VmHWM) of \`nspawn-kit --json watch\` over its start-up reconcile; the same command watching an empty directory: ${(idleKb / 1024).toFixed(1)} MB; RSS at ready ${(atReady.rssKb / 1024).toFixed(1)} MB after ${(tReady / 1000).toFixed(1)} s (ready reported ${ready.files} files); ${decided()}/${n} validated, ${child.count('run-end')} import+publish run(s), in ${secs.toFixed(0)} s${done ? '' : ' (observation window ended first)'}`,
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
