/**
 * Runs the rendered first-boot script for real with bash, on the host: every
 * path it touches is prefixed with a temp dir (the renderer's test-only
 * prefix), and systemctl and apt-get are stubs on PATH that record their argv.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { FIRSTBOOT_WANTS_LINK, renderFirstBootScript } from '../../src/machine/firstboot.js';
import { FIRSTBOOT } from '../../src/machine/paths.js';
import { readFirstBootResult } from '../../src/machine/provenance.js';

const base = mkdtempSync(join(tmpdir(), 'nk-fbscript-'));
const stubs = join(base, 'stubs');
mkdirSync(stubs);
for (const tool of ['systemctl', 'apt-get']) {
  const file = join(stubs, tool);
  // Records its argv; apt-get fails with $APT_EXIT when set.
  writeFileSync(file, `#!/bin/sh\necho "${tool} $*" >>"$STUB_LOG"\n${tool === 'apt-get' ? 'exit "${APT_EXIT:-0}"\n' : ''}`);
  chmodSync(file, 0o755);
}

let n = 0;
function setup(steps: string[], opts: { resolved?: boolean; linkResolvConf?: boolean } = {}) {
  const root = join(base, `root${++n}`);
  mkdirSync(join(root, 'lib/systemd/system'), { recursive: true });
  writeFileSync(join(root, 'lib/systemd/system/systemd-networkd.service'), '[Unit]\n');
  if (opts.resolved) writeFileSync(join(root, 'lib/systemd/system/systemd-resolved.service'), '[Unit]\n');
  mkdirSync(join(root, 'etc'), { recursive: true });
  const script = join(root, FIRSTBOOT.script);
  mkdirSync(dirname(script), { recursive: true });
  writeFileSync(script, renderFirstBootScript({ machine: 'box', recipe: { name: 'r', steps }, prefix: root, linkResolvConf: opts.linkResolvConf ?? true }), { mode: 0o755 });
  const link = join(root, FIRSTBOOT_WANTS_LINK);
  mkdirSync(dirname(link), { recursive: true });
  symlinkSync(FIRSTBOOT.unit, link);
  const env = { ...process.env, PATH: `${stubs}:${process.env.PATH}`, STUB_LOG: join(root, 'calls.log') };
  return { root, script, link, env, calls: () => (existsSync(env.STUB_LOG) ? readFileSync(env.STUB_LOG, 'utf8') : '') };
}
const log = (root: string) => readFileSync(join(root, FIRSTBOOT.log), 'utf8');

test('success: steps run in order, marker success, log complete, script and wants link removed', async () => {
  const out = join(base, 'steps.txt');
  const s = setup([`echo step-one-output; echo one >>${out}`, `echo two >>${out}`]);
  const res = spawnSync('bash', [s.script], { env: s.env, encoding: 'utf8' });
  assert.is(res.status, 0, res.stdout + res.stderr);
  assert.is(readFileSync(out, 'utf8'), 'one\ntwo\n');
  const marker = await readFirstBootResult(s.root);
  assert.is(marker?.status, 'success');
  assert.is(marker?.exitCode, 0);
  assert.ok(marker && !Number.isNaN(Date.parse(marker.time)));
  assert.not.ok(existsSync(s.script));
  assert.not.ok(existsSync(s.link));
  assert.match(log(s.root), 'step-one-output');
  assert.match(log(s.root), /first boot succeeded\n$/);
  assert.match(res.stdout, 'step-one-output'); // stdout is what the unit sends to the journal
  // networkd enabled (installed), resolved not (absent) and resolv.conf left alone
  const calls = s.calls();
  assert.match(calls, 'systemctl enable systemd-networkd.service');
  assert.not.match(calls, 'resolved');
  assert.not.ok(existsSync(join(s.root, 'etc/resolv.conf')));
  // apt: update restricted to the mirror's .sources, then a non-interactive upgrade
  assert.match(calls, `apt-get update -o Dir::Etc::SourceList=${s.root}/etc/apt/sources.list.d/nspawn-kit-mirror.sources -o Dir::Etc::SourceParts=-`);
  assert.match(calls, /apt-get -y .*upgrade/);
  assert.ok(calls.indexOf('apt-get update') < calls.indexOf('upgrade'));
});

test('resolved installed: enabled and resolv.conf linked to its file', () => {
  const s = setup([], { resolved: true });
  assert.is(spawnSync('bash', [s.script], { env: s.env }).status, 0);
  assert.match(s.calls(), 'systemctl enable systemd-resolved.service');
  assert.is(readlinkSync(join(s.root, 'etc/resolv.conf')), '/run/systemd/resolve/resolv.conf');
});

test('resolved installed, host network: enabled, resolv.conf left alone', () => {
  const s = setup([], { resolved: true, linkResolvConf: false });
  writeFileSync(join(s.root, 'etc/resolv.conf'), 'nameserver 192.0.2.53\n');
  assert.is(spawnSync('bash', [s.script], { env: s.env }).status, 0);
  assert.match(s.calls(), 'systemctl enable systemd-resolved.service');
  assert.is(readFileSync(join(s.root, 'etc/resolv.conf'), 'utf8'), 'nameserver 192.0.2.53\n');
});

test('a failing step: marker failure with its exit code, later steps skipped, still runs only once', async () => {
  const out = join(base, 'fail-steps.txt');
  const s = setup([`echo a >>${out}`, 'echo about to fail; exit 7', `echo c >>${out}`]);
  const res = spawnSync('bash', [s.script], { env: s.env, encoding: 'utf8' });
  assert.is(res.status, 7);
  const marker = await readFirstBootResult(s.root);
  assert.is(marker?.status, 'failure');
  assert.is(marker?.exitCode, 7);
  assert.is(readFileSync(out, 'utf8'), 'a\n');
  assert.match(log(s.root), 'step 2 failed with exit code 7: echo about to fail; exit 7');
  assert.match(log(s.root), 'first boot failed with exit code 7');
  assert.not.ok(existsSync(s.script));
  assert.not.ok(existsSync(s.link));
});

test('apt-get update failing: failure marker with apt exit code, no step runs', async () => {
  const s = setup([`touch ${join(base, 'should-not-exist')}`]);
  const res = spawnSync('bash', [s.script], { env: { ...s.env, APT_EXIT: '100' } });
  assert.is(res.status, 100);
  const marker = await readFirstBootResult(s.root);
  assert.is(marker?.status, 'failure');
  assert.is(marker?.exitCode, 100);
  assert.not.ok(existsSync(join(base, 'should-not-exist')));
  assert.not.match(s.calls(), 'upgrade');
});

test('killed mid-step (SIGTERM to the group, as at shutdown): failure marker 143, script removed', async () => {
  const s = setup(['echo started; sleep 30']);
  const child = spawn('bash', [s.script], { env: s.env, detached: true, stdio: 'ignore' });
  // Wait for the step to start (the log says so), then stop the whole group.
  for (let i = 0; i < 200 && !(existsSync(join(s.root, FIRSTBOOT.log)) && log(s.root).includes('started')); i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  process.kill(-child.pid!, 'SIGTERM');
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  assert.is(code, 143);
  const marker = await readFirstBootResult(s.root);
  assert.is(marker?.status, 'failure');
  assert.is(marker?.exitCode, 143);
  assert.not.ok(existsSync(s.script));
});

test.after(() => rmSync(base, { recursive: true, force: true }));
test.run();
