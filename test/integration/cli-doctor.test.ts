/**
 * `nspawn-kit doctor` on this host, checked against what other tools say about
 * it (sh's `command -v`, dpkg-query, /proc/filesystems read with awk), and
 * with a required or an optional tool hidden by a bind mount in a private
 * mount namespace. Pure pieces (report text, --fix plan): test/unit/cli.test.ts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, entry, ROOT } from '../helpers/cli.js';
import { DOCTOR_TOOLS } from '../helpers/doctor-tools.js';

interface Report {
  systemdPid1: boolean;
  machinectl: string;
  overlayfs: string;
  tools: { tool: string; pkg: string; optional: boolean; found: boolean; path?: string; version?: string }[];
  missingRequired: string[];
  missingOptional: string[];
}

// What doctor must know about, in its order (test/helpers/doctor-tools.ts).
const TOOLS = DOCTOR_TOOLS;

const sh = (script: string, ...args: string[]) => spawnSync('sh', ['-c', script, 'sh', ...args], { encoding: 'utf8' });
/** sh's own lookup, over PATH and the sbin/bin directories doctor adds (root's tools live in sbin). */
const onHost = (tool: string) => sh('PATH="$PATH:/usr/sbin:/sbin:/usr/bin:/bin" command -v "$1" >/dev/null', tool).status === 0;
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
  const dir = mkdtempSync(join(tmpdir(), 'nk-doctor-'));
  try {
    const blank = join(dir, 'blank');
    writeFileSync(blank, '', { mode: 0o644 });
    const script = [
      'set -e',
      'blank=$1 tool=$2; shift 2',
      'for d in $(printf %s "$PATH" | tr : " ") /usr/sbin /sbin /usr/bin /bin; do',
      '  if [ -e "$d/$tool" ]; then mount --bind -- "$blank" "$d/$tool"; fi',
      'done',
      'exec "$@"',
    ].join('\n');
    const r = spawnSync('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', script, 'sh', blank, tool, process.execPath, ...entry(), ...args], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const isRoot = process.getuid?.() === 0;

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
