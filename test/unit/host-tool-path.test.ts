/**
 * doctor looks for tools on the PATH they will be run with, and only names
 * the standard directories that PATH lacks as a hint: PATHs and directories
 * made here, so nothing depends on the tools this host happens to have.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertOnPath, formatDoctor, missingPackages, missingPathDirs, type DoctorReport, type ToolStatus } from '../../src/host/doctor.js';
import { pathDirs, which, whichOutsidePath } from '../../src/host/tool-path.js';
import { DOCTOR_TOOLS } from '../helpers/doctor-tools.js';

const base = mkdtempSync(join(tmpdir(), 'nk-toolpath-'));
test.after(() => rmSync(base, { recursive: true, force: true }));

function dir(name: string, files: Record<string, number | 'dir'>): string {
  const d = join(base, name);
  mkdirSync(d, { recursive: true });
  for (const [file, mode] of Object.entries(files)) {
    if (mode === 'dir') mkdirSync(join(d, file));
    else {
      writeFileSync(join(d, file), '#!/bin/sh\n');
      chmodSync(join(d, file), mode);
    }
  }
  return d;
}

const first = dir('first', { a: 0o755, b: 0o644, c: 'dir' });
const second = dir('second', { a: 0o755, b: 0o755, c: 0o755 });
const sbin = dir('sbin', { a: 0o755, d: 0o755 });

test('which: the first executable regular file along PATH; not executable files and directories are passed over', () => {
  const path = `${first}:${second}`;
  assert.is(which('a', path), join(first, 'a'));
  assert.is(which('b', path), join(second, 'b'));
  assert.is(which('c', path), join(second, 'c'));
  assert.is(which('d', path), undefined, 'sbin is not on this PATH, so d is not found');
  assert.is(which('a', ''), undefined);
});

test('PATH entries that would mean the working directory (empty, relative) are never searched', () => {
  assert.equal(pathDirs(`::.:bin:${first}::/x/`), [first, '/x/']);
  const cwd = process.cwd();
  try {
    process.chdir(second);
    assert.is(which('b', `:.:${first}`), undefined);
    assert.is(which('b', `${first}:`), undefined);
  } finally {
    process.chdir(cwd);
  }
});

test('whichOutsidePath: found only in a standard directory the PATH lacks', () => {
  const standard = [sbin, second];
  assert.is(whichOutsidePath('d', first, standard), join(sbin, 'd'));
  assert.is(whichOutsidePath('d', `${first}:${sbin}`, standard), undefined, 'on PATH: not "outside"');
  assert.is(whichOutsidePath('b', first, standard), join(second, 'b'));
  assert.is(whichOutsidePath('nothing', first, standard), undefined);
});

/** A report where `off` are installed in /usr/sbin (not on PATH) and `gone` nowhere. */
function report(off: string[], gone: string[]): DoctorReport {
  const tools: ToolStatus[] = DOCTOR_TOOLS.map(([tool, pkg, optional]) => {
    const found = !off.includes(tool) && !gone.includes(tool);
    return { tool, pkg, optional, neededBy: ['test'], found, path: found ? `/usr/bin/${tool}` : undefined, version: found ? '1.0' : undefined, outsidePath: off.includes(tool) ? `/usr/sbin/${tool}` : undefined };
  });
  return {
    root: true,
    systemdPid1: false,
    machinectl: 'missing',
    overlayfs: 'loaded',
    tools,
    missingRequired: tools.filter((t) => !t.found && !t.optional).map((t) => t.tool),
    missingOptional: tools.filter((t) => !t.found && t.optional).map((t) => t.tool),
    searchPath: '/usr/bin:/bin',
    notOnPath: off,
  };
}

test('doctor text: a tool outside PATH is NOT ON PATH with the PATH fix; only tools found nowhere go to apt-get', () => {
  const r = report(['debootstrap', 'mmdebstrap'], ['gpg']);
  assert.equal(missingPackages(r), ['gnupg']);
  assert.equal(missingPathDirs(r), ['/usr/sbin']);
  const lines = formatDoctor(r).split('\n');
  assert.ok(lines.includes('  debootstrap     NOT ON PATH                  debootstrap        for test'), lines.join('\n'));
  assert.ok(lines.includes('  mmdebstrap      not on PATH  (optional)      mmdebstrap         for test'), lines.join('\n'));
  assert.ok(lines.includes('  gpg             MISSING                      gnupg              for test'), lines.join('\n'));
  assert.equal(lines.slice(-3), [
    'fix: /usr/sbin/debootstrap, /usr/sbin/mmdebstrap are installed but not on PATH (/usr/bin:/bin); nspawn-kit runs tools by name from PATH.',
    '     Run it with PATH="$PATH:/usr/sbin" (Debian\'s root PATH, which `su -` and sudo set, has it).',
    'fix: nspawn-kit doctor --fix  (apt-get install gnupg)',
  ]);
  // Only outside PATH: no apt-get line, and not "all tools present".
  const onlyPath = formatDoctor(report(['debootstrap'], [])).split('\n');
  assert.is(onlyPath.at(-1), '     Run it with PATH="$PATH:/usr/sbin" (Debian\'s root PATH, which `su -` and sudo set, has it).');
  assert.not.ok(onlyPath.some((l) => l.includes('apt-get') || l === 'all tools present'));
});

test('a preflight needing a tool outside PATH fails with the PATH to use; tools on PATH or found nowhere pass to apt-get', () => {
  const r = report(['debootstrap'], ['gpg']);
  assert.throws(
    () => assertOnPath(r, r.tools.filter((t) => !t.found)),
    (e: unknown) => e instanceof Error && e.message === '/usr/sbin/debootstrap is installed but not on PATH (/usr/bin:/bin)' && (e as { hint?: string }).hint === 'Run it with PATH="$PATH:/usr/sbin" (Debian\'s root PATH, which `su -` and sudo set, has it).',
  );
  assertOnPath(r, r.tools.filter((t) => t.tool === 'gpg'));
});

test.run();
