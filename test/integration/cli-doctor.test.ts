/**
 * `nspawn-kit doctor` on this host, checked against what other tools say about
 * it (sh's `command -v` with the same PATH, dpkg-query, /proc/filesystems read
 * with awk), with a required or an optional tool hidden by a bind mount in a
 * private mount namespace, and with PATHs made here (cron's, and a directory
 * of tools made at test time). Pure pieces (report text, --fix plan, PATH
 * lookup): test/unit/cli.test.ts, test/unit/host-tool-path.test.ts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runWithToolsHidden } from '../helpers/hide-tools.js';
import { cli, entry, ROOT } from '../helpers/cli.js';
import { DOCTOR_TOOLS } from '../helpers/doctor-tools.js';

interface Report {
  systemdPid1: boolean;
  machinectl: string;
  overlayfs: string;
  tools: { tool: string; pkg: string; optional: boolean; found: boolean; path?: string; version?: string; outsidePath?: string }[];
  missingRequired: string[];
  missingOptional: string[];
  searchPath: string;
  notOnPath: string[];
}

// What doctor must know about, in its order (test/helpers/doctor-tools.ts).
const TOOLS = DOCTOR_TOOLS;

const sh = (script: string, ...args: string[]) => spawnSync('sh', ['-c', script, 'sh', ...args], { encoding: 'utf8' });
/** sh's own lookup with the PATH the CLI gets (the tests' own): what a run of nspawn-kit would find. */
const onHost = (tool: string) => sh('command -v "$1" >/dev/null', tool).status === 0;
/** sh's lookup with PATH set to `path`: the tool's absolute path, or undefined. */
const lookup = (tool: string, path: string) => {
  const r = sh('PATH=$2; command -v "$1"', tool, path);
  return r.status === 0 && r.stdout.trim().startsWith('/') ? r.stdout.trim() : undefined;
};
/** Debian's root PATH (/etc/login.defs), where doctor looks for a tool the PATH lacks. */
const STANDARD = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
const dpkgVersion = (pkg: string) => {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Version}', '--', pkg], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() ? r.stdout.trim() : undefined;
};

test('doctor --json: every tool with its package, found as sh finds it, versions as dpkg-query says; exit 1 exactly when a required tool is missing', () => {
  const r = cli(['--json', 'doctor']);
  const report = JSON.parse(r.stdout) as Report;
  assert.equal(
    report.tools.map((t) => [t.tool, t.pkg, t.optional]),
    TOOLS,
  );
  const found = TOOLS.map(([tool]) => onHost(tool));
  assert.equal(report.tools.map((t) => t.found), found);
  for (const t of report.tools) assert.is(t.version, t.found ? dpkgVersion(t.pkg) : undefined, t.tool);
  const missingRequired = TOOLS.filter(([, , optional], i) => !optional && !found[i]).map(([tool]) => tool);
  assert.equal(report.missingRequired, missingRequired);
  assert.equal(report.missingOptional, TOOLS.filter(([, , optional], i) => optional && !found[i]).map(([tool]) => tool));
  assert.is(r.code, missingRequired.length ? 1 : 0, r.stderr);
  // sd_booted(3): systemd is PID 1 exactly when /run/systemd/system is a directory.
  assert.is(report.systemdPid1, sh('test -d /run/systemd/system').status === 0);
  assert.is(report.machinectl, !onHost('machinectl') ? 'missing' : report.systemdPid1 ? 'usable' : 'unusable: systemd is not PID 1');
});

test('doctor: overlayfs as /proc/filesystems and the running kernel\'s modules say', () => {
  const report = JSON.parse(cli(['--json', 'doctor']).stdout) as Report;
  const loaded = sh(`awk '$NF == "overlay" { found = 1 } END { exit !found }' /proc/filesystems`).status === 0;
  const module = sh('test -d "/lib/modules/$(uname -r)/kernel/fs/overlayfs"').status === 0;
  assert.is(report.overlayfs, loaded ? 'loaded' : module ? 'module available' : 'missing');
});

/** Runs the CLI in a private mount namespace where `tool` is a non-executable empty file wherever doctor looks. */
function doctorWithout(tool: string, args: string[]) {
  const r = runWithToolsHidden([tool], [process.execPath, ...entry(), ...args]);
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const isRoot = process.getuid?.() === 0;

test('doctor with cron\'s PATH=/usr/bin:/bin: debootstrap in /usr/sbin is NOT ON PATH (exit 1), the fix is the PATH, --fix does not reinstall it', () => {
  const debootstrap = lookup('debootstrap', STANDARD.join(':'));
  if (debootstrap !== '/usr/sbin/debootstrap') return console.log(`  (skipped: debootstrap is ${debootstrap ?? 'not installed'}, not /usr/sbin/debootstrap)`);
  const env = { PATH: '/usr/bin:/bin' };
  const r = cli(['--json', 'doctor'], { env });
  assert.is(r.code, 1, r.stderr);
  const report = JSON.parse(r.stdout) as Report;
  assert.is(report.searchPath, '/usr/bin:/bin');
  const t = report.tools.find((x) => x.tool === 'debootstrap');
  assert.equal([t?.found, t?.path, t?.outsidePath], [false, undefined, '/usr/sbin/debootstrap']);
  assert.ok(report.missingRequired.includes('debootstrap') && report.notOnPath.includes('debootstrap'));
  // Every tool: found exactly as sh finds it with that PATH; outside it exactly where sh finds it in the standard directories.
  for (const x of report.tools) {
    const on = lookup(x.tool, '/usr/bin:/bin');
    assert.is(x.found, on !== undefined, x.tool);
    const outside = on ? undefined : lookup(x.tool, STANDARD.filter((d) => d !== '/usr/bin' && d !== '/bin').join(':'));
    assert.is(x.outsidePath, outside, x.tool);
  }
  const text = cli(['doctor'], { env });
  assert.match(text.stdout, /^  debootstrap {5}NOT ON PATH {18}debootstrap {8}for create \(debootstrap backend\); mirror warm$/m);
  assert.match(text.stdout, /^fix: (.*, )?\/usr\/sbin\/debootstrap(, .*)? (is|are) installed but not on PATH \(\/usr\/bin:\/bin\); nspawn-kit runs tools by name from PATH\.$/m);
  assert.match(text.stdout, /^ {5}Run it with PATH="\$PATH:\/usr\/sbin(:[^"]*)?" \(Debian's root PATH, which `su -` and sudo set, has (it|them)\)\.$/m);
  const fix = cli(['--dry-run', 'doctor', '--fix'], { env });
  assert.not.match(`${fix.stdout}${fix.stderr}`, /apt-get install[^\n]*\bdebootstrap\b/);
});

test('doctor with a PATH made at test time: exactly the tools in that directory are found, there; the rest are missing or outside PATH', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nk-doctor-path-'));
  try {
    // zx runs commands with bash, doctor asks dpkg-query for versions: both by name, from this PATH.
    for (const t of ['bash', 'dpkg-query']) {
      const real = lookup(t, STANDARD.join(':'));
      assert.ok(real, `${t} is part of every Debian system`);
      symlinkSync(real, join(dir, t));
    }
    // Stand-ins made here: doctor only looks for an executable file of that name.
    for (const t of ['xz', 'mmdebstrap']) {
      writeFileSync(join(dir, t), '#!/bin/sh\nexit 0\n');
      chmodSync(join(dir, t), 0o755);
    }
    const r = cli(['--json', 'doctor'], { env: { PATH: dir } });
    assert.is(r.code, 1, r.stderr);
    const report = JSON.parse(r.stdout) as Report;
    assert.equal(
      report.tools.filter((t) => t.found).map((t) => [t.tool, t.path]),
      [
        ['xz', join(dir, 'xz')],
        ['mmdebstrap', join(dir, 'mmdebstrap')],
      ],
    );
    assert.is(report.tools.find((t) => t.tool === 'xz')?.version, dpkgVersion('xz-utils'));
    for (const t of report.tools.filter((x) => !x.found)) assert.is(t.outsidePath, lookup(t.tool, STANDARD.join(':')), t.tool);
    assert.equal(report.missingRequired, ['debootstrap', 'systemd-nspawn', 'apt-ftparchive', 'gpg', 'dpkg-deb']);
    assert.equal(report.missingOptional, ['apt-move', 'lz4']);
    assert.equal(report.notOnPath, report.tools.filter((t) => t.outsidePath).map((t) => t.tool));
    assert.is(report.machinectl, 'missing');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('doctor with gpg hidden: gpg not found, a required tool missing, exit 1, the text says MISSING and how to fix it', () => {
  if (!isRoot) return console.log('  (skipped: hiding a tool needs root for a private mount namespace)');
  const json = doctorWithout('gpg', ['--json', 'doctor']);
  assert.is(json.code, 1, json.stderr);
  const report = JSON.parse(json.stdout) as Report;
  const gpg = report.tools.find((t) => t.tool === 'gpg');
  assert.equal([gpg?.found, gpg?.path, gpg?.version], [false, undefined, undefined]);
  assert.ok(report.missingRequired.includes('gpg'), JSON.stringify(report.missingRequired));
  const text = doctorWithout('gpg', ['doctor']);
  assert.is(text.code, 1, text.stderr);
  assert.match(text.stdout, /^  gpg {13}MISSING {22}gnupg {14}for mirror publish \(signing\); mirror verify$/m);
  assert.match(text.stdout, /^fix: nspawn-kit doctor --fix  \(apt-get install .*\bgnupg\b.*\)$/m);
});

test('doctor with only an optional tool hidden (lz4): reported missing, but the exit code is that of the required tools', () => {
  if (!isRoot) return console.log('  (skipped: hiding a tool needs root for a private mount namespace)');
  const requiredMissing = TOOLS.filter(([tool, , optional]) => !optional && !onHost(tool)).map(([tool]) => tool);
  const r = doctorWithout('lz4', ['--json', 'doctor']);
  const report = JSON.parse(r.stdout) as Report;
  assert.is(report.tools.find((t) => t.tool === 'lz4')?.found, false);
  assert.ok(report.missingOptional.includes('lz4'));
  assert.equal(report.missingRequired, requiredMissing);
  assert.is(r.code, requiredMissing.length ? 1 : 0, r.stderr);
});

test.run();
