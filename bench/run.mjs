#!/usr/bin/env node
/**
 * `npm run bench [-- --quick | --full] [--only publish,bootstrap,watch,refresh,qgis] [--no-build]`
 *
 * Side-by-side benchmarks of nspawn-kit (built library in dist/, each measured
 * operation in its own child process for its peak memory) and the tools it
 * replaces. Needs root (debootstrap, mmdebstrap, systemd-nspawn). Writes
 * bench/results/<date>.{json,md,svg} and latest.md; never runs in `npm test`.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { bootstrapCase } from './lib/bootstrap.mjs';
import { memoryRows } from './lib/memory.mjs';
import { publishCase } from './lib/publish.mjs';
import { qgisCase } from './lib/qgis.mjs';
import { refreshCase } from './lib/refresh.mjs';
import { markdownTable, svgChart } from './lib/report.mjs';
import { errorRow, log } from './lib/util.mjs';
import { watchCase } from './lib/watch.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RESULTS = fileURLToPath(new URL('./results/', import.meta.url));

const argv = process.argv.slice(2);
const flag = (f) => argv.includes(f);
const only = (argv.find((a) => a.startsWith('--only='))?.slice(7) ?? (argv.includes('--only') ? argv[argv.indexOf('--only') + 1] : undefined) ?? '')
  .split(',')
  .filter((s) => s && !s.startsWith('--'));
if (flag('--help') || flag('-h')) {
  process.stdout.write(
    'usage: npm run bench -- [--quick | --full] [--only publish,bootstrap,watch,refresh,qgis] [--no-build] | --render results/DATE.json\n' +
      '  --quick   smaller pools and fewer repeats (about 10 minutes on 2 cores)\n' +
      '  (default) pools of 100, 2,000 and 10,000 .debs, more repeats\n' +
      '  --full    the default run plus the QGIS main job (downloads about 1 GB; or NSPAWN_KIT_BENCH_QGIS=1)\n' +
      '  NSPAWN_KIT_BENCH_UPSTREAM=URL  upstream for the mirror warm and the network debootstrap\n',
  );
  process.exit(0);
}
// --render FILE.json: rewrite the .md/.svg (and latest.md) of a saved run, nothing measured.
if (argv.includes('--render')) {
  const file = argv[argv.indexOf('--render') + 1];
  const results = JSON.parse(readFileSync(file, 'utf8'));
  const stem = file.replace(/\.json$/, '');
  writeFileSync(`${stem}.md`, markdownTable(results));
  writeFileSync(`${stem}.svg`, svgChart(results));
  if (!results.argv?.includes('--only')) copyFileSync(`${stem}.md`, `${RESULTS}latest.md`);
  process.stdout.write(markdownTable(results));
  process.exit(0);
}
if (process.getuid?.() !== 0) {
  process.stderr.write('nspawn-kit bench needs root (debootstrap, mmdebstrap and systemd-nspawn build real root file systems).\nRun: sudo npm run bench -- --quick\n');
  process.exit(2);
}
const quick = flag('--quick');
const full = flag('--full');
const want = (name) => !only.length || only.includes(name);

const plan = quick
  ? { pools: [100, 2000], fullReps: 3, incrReps: 5, scanMax: 2000, aptMoveReps: 3, bootReps: 2, warmReps: 3, watchRounds: 10, memFiles: 5000 }
  : { pools: [100, 2000, 10000], fullReps: 5, incrReps: 9, scanMax: 2000, aptMoveReps: 5, bootReps: 3, warmReps: 5, watchRounds: 20, memFiles: 20000 };

function version(cmd) {
  const r = spawnSync('sh', ['-c', cmd], { encoding: 'utf8' });
  return (r.stdout || r.stderr || '').trim().split('\n')[0] || 'missing';
}

function environment() {
  const pkg = (p) => version(`dpkg-query -W -f '\${Version}' ${p} 2>/dev/null`);
  const os = /PRETTY_NAME="([^"]*)"/.exec(existsSync('/etc/os-release') ? readFileSync('/etc/os-release', 'utf8') : '')?.[1] ?? 'unknown';
  return {
    nproc: cpus().length,
    memMB: Math.round(totalmem() / 1048576),
    cpu: cpus()[0]?.model ?? 'unknown',
    kernel: version('uname -sr'),
    os,
    node: process.version,
    fs: version(`stat -f -c %T /var/tmp`),
    tools: {
      debootstrap: pkg('debootstrap'),
      mmdebstrap: pkg('mmdebstrap'),
      'apt-ftparchive (apt-utils)': pkg('apt-utils'),
      'dpkg-scanpackages (dpkg-dev)': pkg('dpkg-dev'),
      'apt-move': pkg('apt-move'),
      'systemd-nspawn': pkg('systemd-container'),
      gnupg: pkg('gpg'),
    },
  };
}

function build() {
  if (flag('--no-build')) return;
  log('building dist/ (tsc -p tsconfig.json); --no-build skips this');
  const r = spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) log(`tsc reported errors (dist/ is emitted anyway, benchmarking what was built):\n${(r.stdout + r.stderr).split('\n').slice(0, 10).join('\n')}`);
  if (!existsSync(`${ROOT}/dist/mirror/publish.js`)) {
    process.stderr.write('dist/ is missing: run `npm run build` first.\n');
    process.exit(2);
  }
}

async function main() {
  const t0 = performance.now();
  build();
  const rows = [];
  const memory = [];
  const env = environment();
  const guard = async (group, name, fn) => {
    try {
      const out = await fn();
      rows.push(...out.rows);
      memory.push(...(out.memory ?? []));
    } catch (err) {
      log(`${group}/${name} failed: ${err instanceof Error ? err.stack : err}`);
      rows.push(errorRow(group, name, err));
    }
  };
  if (want('bootstrap')) await guard('bootstrap', 'bookworm-minimal', () => bootstrapCase(plan, { quick }));
  if (want('publish')) for (const n of plan.pools) await guard('publish', `pool ${n}`, () => publishCase(n, plan));
  if (want('watch')) await guard('watch', 'watcher', () => watchCase(plan));
  if (want('refresh')) await guard('refresh', 'qgis mirror', () => refreshCase());
  if (want('qgis')) await guard('main job', 'qgis-container', () => qgisCase({ enabled: full || process.env.NSPAWN_KIT_BENCH_QGIS === '1' }));
  rows.push(...memoryRows(memory));

  // A partial run (--only) must not replace the day's complete results nor latest.md.
  const date = new Date().toISOString().slice(0, 10);
  const stem = only.length ? `${date}-only-${only.join('-')}` : date;
  const results = { date, quick, full, argv, env, plan, durationMs: performance.now() - t0, rows, memory: memory.map(([op, size, r]) => ({ op, size, nodeMaxRssKb: r.maxRssKb, treeMaxRssKb: r.treeMaxRssKb })) };
  mkdirSync(RESULTS, { recursive: true });
  const md = markdownTable(results);
  writeFileSync(`${RESULTS}${stem}.json`, `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(`${RESULTS}${stem}.md`, md);
  writeFileSync(`${RESULTS}${stem}.svg`, svgChart(results));
  if (!only.length) copyFileSync(`${RESULTS}${stem}.md`, `${RESULTS}latest.md`);
  process.stdout.write(`${md}\n`);
  log(`results: bench/results/${stem}.{json,md,svg}${only.length ? '' : ' and bench/results/latest.md'} (${(results.durationMs / 60000).toFixed(1)} min)`);
}

await main();
