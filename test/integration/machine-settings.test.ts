/**
 * The recipe's nspawn settings reach `nspawn-kit run` (and boot/provision,
 * which share the argv) when machines.settingsDir is a directory that
 * systemd-nspawn never reads: the file beside the root, --settings=trusted,
 * and no --bind-ro of ours that would make nspawn drop the file's binds.
 * Real systemd-nspawn on a tiny root (cat, sh and their libraries) made at
 * test time; no bootstrap needed.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Shell } from '../../src/shell.js';
import { writeNspawnFiles } from '../../src/machine/nspawn-file.js';
import { cli } from '../helpers/cli.js';
import { makeConfig, makeRecipe } from '../helpers/config.js';

const base = mkdtempSync(join(tmpdir(), 'nk-settings-'));
const config = makeConfig(base);
const cfg = join(base, 'cfg.json');
writeFileSync(
  cfg,
  JSON.stringify({
    stateDir: config.stateDir,
    mirror: { root: config.mirror.root, archives: [] },
    machines: config.machines,
  }),
);
const data = join(base, 'host-data');
mkdirSync(data);
writeFileSync(join(data, 'f'), 'from the recipe bind\n');
mkdirSync(config.mirror.root, { recursive: true });
writeFileSync(join(config.mirror.root, 'marker'), 'the mirror\n');
const run = (...args: string[]) => cli(['--config', cfg, ...args], { env: { NO_COLOR: '1' } });

/** A root systemd-nspawn can run a command in: /usr/bin/cat and /usr/bin/sh with their libraries. */
function tinyRoot(name: string): string {
  const root = join(config.machines.dir, name);
  for (const d of ['usr/bin', 'usr/lib/x86_64-linux-gnu', 'usr/lib64', 'etc', 'proc', 'sys', 'dev', 'run', 'tmp', 'var/local', 'mnt']) mkdirSync(join(root, d), { recursive: true });
  symlinkSync('usr/bin', join(root, 'bin'));
  symlinkSync('usr/lib', join(root, 'lib'));
  symlinkSync('usr/lib64', join(root, 'lib64'));
  copyFileSync('/usr/bin/cat', join(root, 'usr/bin/cat'));
  copyFileSync('/usr/bin/dash', join(root, 'usr/bin/sh'));
  copyFileSync('/lib/x86_64-linux-gnu/libc.so.6', join(root, 'usr/lib/x86_64-linux-gnu/libc.so.6'));
  copyFileSync('/lib64/ld-linux-x86-64.so.2', join(root, 'usr/lib64/ld-linux-x86-64.so.2'));
  writeFileSync(join(root, 'etc/os-release'), 'ID=nspawn-kit-test\n');
  return root;
}

/** Interface names in a /proc/net/dev listing. */
function interfaces(procNetDev: string): string[] {
  return procNetDev
    .split('\n')
    .map((l) => l.match(/^\s*([^\s:|]+):/)?.[1])
    .filter((n): n is string => n !== undefined)
    .sort();
}

test.after(() => rmSync(base, { recursive: true, force: true }));

test('network "private" and a recipe bind apply to `nspawn-kit run` with settingsDir outside /etc', async () => {
  const sh = new Shell({ log: () => {} });
  tinyRoot('box');
  const recipe = makeRecipe({ nspawn: { network: 'private', binds: [], bindsReadOnly: [`${data}:/mnt/data`], privateUsers: false } });
  const files = await writeNspawnFiles({ sh, config }, 'box', recipe);
  assert.is(files.settingsFile, join(config.machines.settingsDir, 'box.nspawn'));
  assert.is(files.besideRoot, join(config.machines.dir, 'box.nspawn'));

  const r = run('run', 'box', '--', '/usr/bin/cat', '/proc/net/dev', '/mnt/data/f', '/var/local/nspawn-kit-mirror/marker');
  assert.is(r.code, 0, r.stderr + r.stdout);
  assert.equal(interfaces(r.stdout), ['lo'], r.stdout);
  assert.match(r.stdout, 'from the recipe bind', 'the recipe bind survives (no --bind-ro on the command line)');
  assert.match(r.stdout, 'the mirror', 'the file binds the mirror');
  assert.not.match(r.stderr, /Ignoring/, 'nspawn ignored none of the settings');
});

test('network "host" in the same way shows the host interfaces (the check above can fail)', async () => {
  const host = interfaces(readFileSync('/proc/net/dev', 'utf8'));
  const sh = new Shell({ log: () => {} });
  tinyRoot('hostnet');
  await writeNspawnFiles({ sh, config }, 'hostnet', makeRecipe({ nspawn: { network: 'host', binds: [], bindsReadOnly: [], privateUsers: false } }));
  const r = run('run', 'hostnet', '--', '/usr/bin/cat', '/proc/net/dev');
  assert.is(r.code, 0, r.stderr + r.stdout);
  assert.equal(interfaces(r.stdout), host);
});

test('rm removes the root, the file in settingsDir and the one beside the root', () => {
  const r = run('rm', 'box');
  assert.is(r.code, 0, r.stderr + r.stdout);
  assert.not.ok(existsSync(join(config.machines.dir, 'box')));
  assert.not.ok(existsSync(join(config.machines.settingsDir, 'box.nspawn')));
  assert.not.ok(existsSync(join(config.machines.dir, 'box.nspawn')));
  assert.ok(existsSync(join(config.machines.dir, 'hostnet.nspawn')), 'only that machine');
});

test.run();
