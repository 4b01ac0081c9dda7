/**
 * The closed loop, end to end through the CLI (dist/): warm bookworm-minimal
 * into a temp mirror (network: deb.debian.org), create a machine, start
 * `watch`, and inside the machine let apt-get (restricted to the recipe's
 * upstream source) download `hello`, a package not in the warmed set. Its
 * bytes are named by the Packages list warm verified, so the watcher imports
 * it into the bookworm suite. A .deb planted directly in the machine's cache
 * (what root in a container could do) is quarantined and never indexed.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeDeb } from '../helpers/debs.js';
import { removeTestTree } from '../helpers/cleanup.js';

const ROOT = join(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'cli.js');
const base = mkdtempSync(join('/var/tmp', 'nk-e2e-loop-'));
const cfg = join(base, 'cfg.json');
writeFileSync(
  cfg,
  JSON.stringify({
    stateDir: join(base, 'state'),
    mirror: { root: join(base, 'mirror'), archives: [] },
    machines: { dir: join(base, 'machines'), settingsDir: join(base, 'nspawn'), unitDir: join(base, 'units') },
    watch: { settleMs: 500, batchMs: 300 },
  }),
);
const root = join(base, 'machines', 'loop1');
const packagesFile = join(base, 'mirror/dists/bookworm/main/binary-amd64/Packages');
const suiteList = join(base, 'state/mirror/suites/bookworm.list');
const quarantineFile = join(base, 'state/mirror/quarantine.json');

function nk(args: string[], timeoutMs = 1_200_000): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, [CLI, '--config', cfg, ...args], { cwd: ROOT, encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status, out: `${r.stdout}\n${r.stderr}` };
}

const read = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8') : '');

test.before(() => {
  // `npm test` builds dist/ first; run alone, build it here (tsc emits even if another file has a type error).
  if (process.env.NSPAWN_KIT_TEST_DIST === '1' && existsSync(CLI)) return;
  spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'ignore' });
  assert.ok(existsSync(CLI), 'dist/ could not be built: run `npm run build`');
});

test.after(() => removeTestTree(base));

test('closed loop: what apt-get downloads from the verified upstream inside the container reaches the mirror; a planted .deb does not', async () => {
  const warm = nk(['mirror', 'warm', 'bookworm-minimal']);
  assert.is(warm.code, 0, warm.out.slice(-3000));
  assert.not.match(read(packagesFile), /^Package: hello$/m, 'hello is not in the warmed set');
  const created = nk(['create', 'bookworm-minimal', '--name', 'loop1']);
  assert.is(created.code, 0, created.out.slice(-3000));
  const upstreamSources = '/etc/apt/sources.list.d/nspawn-kit-upstream.sources';
  assert.ok(existsSync(join(root, upstreamSources)), 'create wrote the upstream source');

  const watcher = spawn(process.execPath, [CLI, '--config', cfg, 'watch'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  let log = '';
  watcher.stdout.on('data', (d: Buffer) => (log += d.toString()));
  watcher.stderr.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<number | null>((r) => watcher.on('exit', (code) => r(code)));
  const waitFor = async (what: string, cond: () => boolean, ms = 180_000) => {
    const end = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}; watcher log:\n${log.slice(-4000)}`);
      await sleep(250);
    }
  };
  try {
    await waitFor('the watcher', () => log.includes('daemon-ready'), 60_000);
    assert.match(log, 'machine-added', 'the machine archive is watched');
    // apt-get inside the container, with only the recipe's upstream source (checked by apt with the distribution keyring).
    const only = ['-o', `Dir::Etc::SourceList=${upstreamSources}`, '-o', 'Dir::Etc::SourceParts=-'];
    const upd = nk(['run', 'loop1', '--', 'apt-get', ...only, 'update']);
    assert.is(upd.code, 0, upd.out.slice(-3000));
    const dl = nk(['run', 'loop1', '--', 'apt-get', ...only, 'install', '-y', '--download-only', 'hello']);
    assert.is(dl.code, 0, dl.out.slice(-3000));
    const cache = join(root, 'var/cache/apt/archives');
    const helloDeb = readdirSync(cache).find((n) => /^hello_.*_amd64\.deb$/.test(n));
    assert.ok(helloDeb, `apt-get put hello into the container cache: ${readdirSync(cache).join(', ')}`);

    await waitFor('hello in the published index', () => /^Package: hello$/m.test(read(packagesFile)));
    assert.match(read(suiteList), /^pool\/main\/h\/hello\/hello_.*_amd64\.deb$/m);

    // Root in the container plants a package of its own: quarantined with the reason, never indexed.
    const planted = makeDeb(cache, { name: 'nk-planted', version: '99:1.0-1' });
    await waitFor('the quarantine', () => read(quarantineFile).includes(planted));
    const entry = (JSON.parse(read(quarantineFile)) as { file: string; reason: string }[]).find((q) => q.file === planted);
    assert.is(entry?.reason, 'not in any index nspawn-kit verified for bookworm (machine loop1)');
    // Let any run in progress finish before looking at the index.
    await sleep(2000);
    assert.not.match(read(packagesFile), 'nk-planted');
    assert.not.match(read(suiteList), 'nk-planted');
    assert.not.ok(existsSync(join(base, 'mirror/pool/main/n/nk-planted')), 'not in the pool either');
  } finally {
    watcher.kill('SIGTERM');
    const code = await exited;
    assert.is(code, 0, `watch exits cleanly on SIGTERM:\n${log.slice(-2000)}`);
  }
  const verify = nk(['mirror', 'verify']);
  assert.is(verify.code, 0, verify.out.slice(-3000));
});

test.run();
