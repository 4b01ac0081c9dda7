/**
 * The daemon unit as install-units writes it, judged by systemd itself:
 * `systemd-analyze security --offline=true` rates its exposure at 3.5 or lower
 * and every check it still fails is justified in a comment of the file, and
 * `systemd-analyze verify` finds nothing wrong. Real paths: this node and the
 * built CLI. Skipped, visibly, where systemd-analyze is absent.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../../src/config/types.js';
import { Shell } from '../../src/shell.js';
import { DAEMON_UNIT, installUnits } from '../../src/triggers/units.js';
import { ROOT } from '../helpers/cli.js';
import { makeConfig } from '../helpers/config.js';

const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
const missing = analyze.status !== 0 ? 'systemd-analyze is not installed (apt-get install systemd)' : undefined;
const base = mkdtempSync(join(tmpdir(), 'nk-units-sec-'));
test.after(() => rmSync(base, { recursive: true, force: true }));

const paths = { nodePath: process.execPath, cliPath: join(ROOT, 'dist', 'cli.js') };

/**
 * Every check the unit may still fail, and what its comments must say about
 * it (the setting or capability named in the justification).
 */
const JUSTIFIED: Array<[check: RegExp, comment: RegExp]> = [
  [/^CapabilityBoundingSet=~CAP_SET\(UID\|GID\|PCAP\)$/, /CAP_SETUID\/CAP_SETGID.*_apt/s],
  [/^CapabilityBoundingSet=~CAP_\(CHOWN\|FSETID\|SETFCAP\)$/, /CAP_CHOWN/],
  [/^CapabilityBoundingSet=~CAP_\(DAC_\*\|FOWNER\|IPC_OWNER\)$/, /CAP_FOWNER, CAP_DAC_OVERRIDE/],
  [/^SystemCallFilter=~@privileged$/, /@privileged stays allowed: apt-get/],
  [/^RestrictAddressFamilies=~AF_\(INET\|INET6\)$/, /AF_INET\/AF_INET6 and the host network/],
  [/^RestrictAddressFamilies=~AF_UNIX$/, /AF_UNIX: gpg/],
  [/^PrivateNetwork=$/, /no PrivateNetwork=/],
  [/^IPAddressDeny=$/, /no IPAddressDeny=/],
  [/^PrivateUsers=$/, /No PrivateUsers=/],
  [/^ProcSubset=$/, /ProcSubset=all: .*\/proc\/locks/],
  [/^UMask=$/, /UMask=0022: the published mirror/],
  [/^MemoryDenyWriteExecute=$/, /No MemoryDenyWriteExecute=: node/],
  [/^ProtectClock=$/, /No ProtectClock=: it would add DeviceAllow=char-rtc/],
  [/^User=\/DynamicUser=$/, /No User=\/DynamicUser=/],
  [/^RootDirectory=\/RootImage=$/, /no RootDirectory=/],
  [/^ProtectHome=$/, /is under \/home, \/root, \/run\/user: home directories stay visible, read-only/],
  [/^PrivateTmp=$/, /is under \/tmp or \/var\/tmp: a private \/tmp would hide it/],
];

async function writeUnit(dir: string, config: Config): Promise<string> {
  const res = await installUnits({ config, sh: new Shell({ log: () => undefined }), unitDir: join(base, dir), ...paths });
  assert.equal(res.written, [join(base, dir, DAEMON_UNIT)]);
  return res.written[0]!;
}

/** The overall exposure and the names of the failed checks (lines starting with ✗). */
function security(file: string): { exposure: number; failed: string[]; output: string } {
  const r = spawnSync('systemd-analyze', ['security', '--offline=true', '--no-pager', '--', file], { encoding: 'utf8' });
  const output = `${r.stdout}\n${r.stderr}`;
  const m = /Overall exposure level for nspawn-kit-daemon\.service: (\d+\.\d)/.exec(output);
  assert.ok(m, output);
  const failed = r.stdout
    .split('\n')
    .filter((l) => l.startsWith('✗'))
    .map((l) => l.slice(1).trim().split(/\s+/)[0]!);
  return { exposure: Number(m[1]), failed, output };
}

function assertJustified(text: string, failed: string[], output: string): void {
  const comments = text
    .split('\n')
    .filter((l) => l.startsWith('#'))
    .join('\n');
  for (const check of failed) {
    const rule = JUSTIFIED.find(([c]) => c.test(check));
    assert.ok(rule, `systemd-analyze fails ${check} and nothing justifies it:\n${output}`);
    assert.match(comments, rule[1], `${check}: its justification is missing from the unit's comments`);
  }
}

function verify(file: string): { status: number | null; output: string } {
  const r = spawnSync('systemd-analyze', ['verify', '--man=no', '--', file], { encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

test('the daemon unit of a system-wide configuration: exposure 3.5 or lower, every remaining point justified in the file, verify is clean', async () => {
  if (missing) return console.log(`  (skipped: ${missing})`);
  const config = makeConfig('/srv/nk', { stateDir: '/var/lib/nspawn-kit', file: '/etc/nspawn-kit/config.json' });
  config.mirror.root = '/srv/mirror';
  const file = await writeUnit('system', config);
  const text = readFileSync(file, 'utf8');
  const { exposure, failed, output } = security(file);
  assert.ok(exposure <= 3.5, `exposure ${exposure} > 3.5:\n${output}`);
  assertJustified(text, failed, output);
  // The settings the issue names, and the ones this configuration allows at full strength.
  for (const line of ['SyslogIdentifier=nspawn-kit', 'Documentation=man:nspawn-kit(1)', 'ProtectSystem=strict', 'ReadWritePaths=-/var/lib/nspawn-kit -/srv/mirror', 'ProtectHome=yes', 'PrivateTmp=yes', 'NoNewPrivileges=yes', 'CapabilityBoundingSet=CAP_CHOWN CAP_DAC_OVERRIDE CAP_FOWNER CAP_SETGID CAP_SETUID', 'SystemCallFilter=@system-service']) {
    assert.ok(text.split('\n').includes(line), `missing ${line}`);
  }
  assert.not.match(text, /^DeviceAllow=|^ProtectClock=yes/m);
  assert.not.ok(failed.includes('ProtectHome=') || failed.includes('PrivateTmp='), output);
  const v = verify(file);
  assert.is(v.status, 0, v.output);
  assert.is(v.output.trim(), '', v.output);
  console.log(`  (systemd-analyze security: exposure ${exposure}; failed, each justified: ${failed.join(', ')})`);
});

test('paths under /root and /tmp: ProtectHome=read-only and PrivateTmp=no, each with the path that forces it; still 3.5 or lower', async () => {
  if (missing) return console.log(`  (skipped: ${missing})`);
  // Only rendered: nothing is made under these paths.
  const config = makeConfig('/tmp/nk-units-rendered-only', { file: '/root/nspawnrc.json' });
  const file = await writeUnit('home-tmp', config);
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n');
  const home = lines.indexOf('ProtectHome=read-only');
  assert.is(lines[home - 1], '# "/root/nspawnrc.json" is under /home, /root, /run/user: home directories stay visible, read-only (move it out for ProtectHome=yes).');
  const tmp = lines.indexOf('PrivateTmp=no');
  assert.is(lines[tmp - 1], '# "/tmp/nk-units-rendered-only/state" is under /tmp or /var/tmp: a private /tmp would hide it (move it out for PrivateTmp=yes).');
  const { exposure, failed, output } = security(file);
  assert.ok(exposure <= 3.5, `exposure ${exposure} > 3.5:\n${output}`);
  assert.ok(failed.includes('ProtectHome=') && failed.includes('PrivateTmp='), output);
  assertJustified(text, failed, output);
  const v = verify(file);
  assert.is(v.status, 0, v.output);
});

test.run();
