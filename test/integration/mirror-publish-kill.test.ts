/**
 * SIGKILL during a publish: a child process republishes in a loop and is
 * killed (with its tools, as a service manager kills a unit) at random
 * moments. Each time the last publication must still verify, and a new
 * publish must succeed afterwards.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Shell } from '../../src/shell.js';
import type { MirrorContext } from '../../src/mirror/context.js';
import { mirrorLayout, poolRelativePath, suiteListPath } from '../../src/mirror/layout.js';
import { stopGpgAgent } from '../../src/mirror/keys.js';
import { publishMirror } from '../../src/mirror/publish.js';
import { verifyMirror } from '../../src/mirror/verify.js';
import { makeConfig } from '../helpers/config.js';
import { makeDeb } from '../helpers/debs.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const base = mkdtempSync(join(tmpdir(), 'nk-kill-'));
const config = makeConfig(base);
const ctx: MirrorContext = { sh: new Shell({ log: () => {} }), config };
const layout = mirrorLayout(config);

function setMembers(members: string[]): void {
  mkdirSync(layout.suites, { recursive: true });
  writeFileSync(suiteListPath(layout, 'bookworm'), [...members].sort().join('\n') + '\n');
}

/** Republishes forever, printing each command it starts ("$ ...") and each step ("# ..."), so kills can aim. */
const CHILD = `
import { Shell } from ${JSON.stringify(join(repo, 'src/shell.ts'))};
import { publishMirror } from ${JSON.stringify(join(repo, 'src/mirror/publish.ts'))};
import { readFileSync } from 'node:fs';
const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const out = (l) => process.stdout.write(l + '\\n');
const ctx = { sh: new Shell({ verbose: true, log: (l) => { if (l.startsWith('$ ')) out(l); } }), config, log: (l) => out('# ' + l) };
for (;;) await publishMirror(ctx);
`;

/** Starts the loop and SIGKILLs it `delayMs` after the first command `aim` picks has started. */
function publishUntilKilled(script: string, configFile: string, aim: (line: string, n: number) => boolean, delayMs: number): Promise<{ stderr: string; commands: string[] }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, configFile], { cwd: repo, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let pending = '';
    const commands: string[] = [];
    let aimed = false;
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.stdout.on('data', (c: Buffer) => {
      const lines = (pending + c.toString()).split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        if (line.startsWith('$ ')) commands.push(line);
        if (!aimed && aim(line, commands.length)) {
          aimed = true;
          setTimeout(() => {
            try {
              process.kill(-child.pid!, 'SIGKILL'); // the whole group: node, apt-ftparchive, gpg, xz
            } catch {
              /* already gone */
            }
          }, delayMs);
        }
      }
    });
    child.on('close', () => resolve({ stderr, commands }));
  });
}

test('SIGKILL at random points of a publish leaves the last publication valid; the next publish succeeds', async () => {
  const pool: string[] = [];
  for (let i = 0; i < 40; i++) {
    const rel = poolRelativePath({ name: `pkg${i}`, version: '1.0-1', architecture: 'amd64' });
    mkdirSync(dirname(join(layout.root, rel)), { recursive: true });
    copyFileSync(makeDeb(join(base, 'debs'), { name: `pkg${i}` }), join(layout.root, rel));
    pool.push(rel);
  }
  setMembers(pool.slice(0, 10));
  await publishMirror(ctx);
  const script = join(base, 'publish-loop.mts');
  writeFileSync(script, CHILD);
  const configFile = join(base, 'config.json');
  writeFileSync(configFile, JSON.stringify(config));

  // Kills after the 2nd..5th command started (gpg, apt-ftparchive, xz, gpg, gpg, rm in a publish), then
  // right after the by-hash copies and after the index renames, where only renames remain: every step gets hit.
  type Aim = [(line: string, n: number) => boolean, number];
  const aims: Aim[] = [
    ...[2, 3, 4, 5].map((nth): Aim => [(l, n) => n === nth, Math.floor(Math.random() * 40)]),
    ...[0, 2].map((ms): Aim => [(l) => l.includes('by-hash copies written'), ms]),
    ...[0, 1, 3].map((ms): Aim => [(l) => l.includes('index files in place'), ms]),
    ...[0, 30].map((ms): Aim => [(l) => l.includes('# published'), ms]), // inside the next publish
  ];
  const changed: boolean[] = [];
  for (const [k, [aim, delay]] of aims.entries()) {
    setMembers(pool.slice(0, 10 + 2 * (k + 1))); // a change per round: a killed publish had something new to write
    const before = readFileSync(join(layout.root, 'dists/bookworm/InRelease'));
    const run = await publishUntilKilled(script, configFile, aim, delay);
    assert.not.match(run.stderr, /Error/, run.stderr);
    changed.push(!readFileSync(join(layout.root, 'dists/bookworm/InRelease')).equals(before));
    const check = await verifyMirror(ctx);
    assert.equal(check.problems, [], `after kill ${k + 1} (${run.commands.at(-1) ?? ''})`);
  }
  assert.ok(changed.includes(true), 'some kills landed after a completed publish');
  assert.ok(changed.includes(false), 'some kills landed before InRelease was replaced');
  const report = await publishMirror(ctx);
  assert.is(report.suites[0]!.packages, Math.min(pool.length, 10 + 2 * aims.length));
  const after = await verifyMirror(ctx);
  assert.equal(after.problems, []);
  assert.equal(after.warnings, [], 'a full publish leaves no half state');
  assert.equal(readdirSync(join(layout.root, '.staging')), [], 'staging dirs of killed publishers are cleaned up');
});

test.after(async () => {
  await stopGpgAgent(ctx);
  rmSync(base, { recursive: true, force: true });
});

test.run();
