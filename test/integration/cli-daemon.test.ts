/** The CLI's `daemon`: a real process, real chokidar, real import/publish; SIGTERM ends it cleanly. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../helpers/cli.js';
import { makeDeb } from '../helpers/debs.js';

const base = mkdtempSync(join(tmpdir(), 'nk-cli-daemon-'));
const archives = join(base, 'archives');
const cfg = join(base, 'cfg.json');
mkdirSync(archives);
writeFileSync(
  cfg,
  JSON.stringify({
    stateDir: join(base, 'state'),
    mirror: { root: join(base, 'mirror'), archives: [{ path: archives, codename: 'bookworm' }] },
    machines: { dir: join(base, 'machines') },
    watch: { settleMs: 200, batchMs: 100 },
  }),
);

test.after(() => {
  try {
    execFileSync('gpgconf', ['--homedir', join(base, 'state', 'gnupg'), '--kill', 'all'], { stdio: 'ignore' });
  } catch {
    /* no agent */
  }
  rmSync(base, { recursive: true, force: true });
});

async function until(what: string, check: () => boolean, timeoutMs = 90_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('daemon --json: reconciles at start, indexes a new .deb, ends cleanly on SIGTERM', async () => {
  makeDeb(archives, { name: 'early-nk' });
  const entry = existsSync(join(ROOT, 'dist', 'cli.js')) && process.env.NSPAWN_KIT_TEST_DIST === '1'
    ? [join(ROOT, 'dist', 'cli.js')]
    : ['--import', join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs'), join(ROOT, 'src', 'cli.ts')];
  const child = spawn(process.execPath, [...entry, '--config', cfg, '--json', 'daemon'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const packages = join(base, 'mirror/dists/bookworm/main/binary-amd64/Packages');
  const listed = (name: string) => existsSync(packages) && readFileSync(packages, 'utf8').includes(`Package: ${name}\n`);
  try {
    await until('the file present at start to be indexed', () => listed('early-nk'));
    makeDeb(archives, { name: 'late-nk' });
    await until('the new file to be indexed', () => listed('late-nk'));
  } finally {
    child.kill('SIGTERM');
  }
  assert.is(await exited, 0, out);
  const lines = out.split('\n').filter((l) => l.startsWith('{'));
  assert.ok(lines.length > 0, out);
  for (const l of lines) assert.ok(typeof (JSON.parse(l) as { event: string }).event === 'string');
  execFileSync('gpgv', ['--keyring', join(base, 'mirror', 'mirror.gpg'), '--', join(base, 'mirror/dists/bookworm/InRelease')], { stdio: 'ignore' });
});

test.run();
