#!/usr/bin/env node
// Runs every test tier this machine can run, says which it skipped and why,
// and ends with one "N passed, N failed" line.
//   node test/run.mjs [unit|integration|e2e ...] [--filter REGEX]
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const args = process.argv.slice(2);
const filterIdx = args.indexOf('--filter');
const filter = filterIdx >= 0 ? args.splice(filterIdx, 2)[1] : undefined;
const wanted = args.length ? args : ['unit', 'integration', 'e2e'];

const isRoot = process.getuid?.() === 0;
const has = (tool) => spawnSync('sh', ['-c', 'command -v "$1"', 'sh', tool]).status === 0;
const missing = (tools) => tools.filter((t) => !has(t));

function skipReason(tier) {
  if (tier === 'unit') return undefined;
  const tools = ['dpkg-deb', 'apt-ftparchive', 'gpg', 'apt-get'];
  if (tier === 'e2e') tools.push('debootstrap', 'systemd-nspawn', 'mmdebstrap');
  const gone = missing(tools);
  if (gone.length) return `missing tools: ${gone.join(', ')} (bash .ci/run installs them)`;
  if (tier === 'e2e' && !isRoot) return 'needs root (debootstrap and systemd-nspawn)';
  if (tier === 'e2e' && process.env.NSPAWN_KIT_SKIP_E2E) return 'NSPAWN_KIT_SKIP_E2E is set';
  return undefined;
}

// colorette (listr2) turns colours ON when FORCE_COLOR is set at all, even to 0.
function withoutForceColor(env) {
  const { FORCE_COLOR: _drop, ...rest } = env;
  return rest;
}

let passed = 0;
let failed = 0;
let skipped = 0;
const notes = [];
for (const tier of wanted) {
  const dir = join(root, 'test', tier);
  if (!existsSync(dir) || !readdirSync(dir).some((f) => f.endsWith('.test.ts'))) {
    notes.push(`${tier}: no tests`);
    continue;
  }
  const reason = skipReason(tier);
  if (reason) {
    notes.push(`${tier}: SKIPPED, ${reason}`);
    continue;
  }
  console.log(`\n=== ${tier} tests ===`);
  const pattern = filter ?? '\\.test\\.ts$';
  // Streamed, not buffered: a long failure diff must neither be lost nor overflow a buffer.
  const res = await new Promise((resolveRun) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'node_modules/uvu/bin.js'), join('test', tier), pattern], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...withoutForceColor(process.env), NO_COLOR: '1', NODE_DISABLE_COLORS: '1' },
    });
    let tail = '';
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      tail = (tail + chunk.toString()).slice(-65536);
    });
    child.on('close', (status) => resolveRun({ status, stdout: tail }));
  });
  const num = (label) => Number((res.stdout.match(new RegExp(`${label}:\\s+(\\d+)`)) ?? [])[1] ?? 0);
  const total = num('Total');
  const ok = num('Passed');
  const skip = num('Skipped');
  passed += ok;
  skipped += skip;
  // A crashed runner (no Total line) or a non-zero exit counts as a failure.
  const bad = Math.max(total - ok - skip, res.status === 0 ? 0 : 1);
  failed += bad;
  notes.push(`${tier}: ${ok} passed, ${bad} failed${skip ? `, ${skip} skipped` : ''}`);
}
console.log('\n' + notes.map((n) => `  ${n}`).join('\n'));
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
