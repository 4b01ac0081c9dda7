/**
 * The upgrade scripts as /bin/sh runs them, with apt-get and dpkg on PATH
 * replaced by recorders (the real apt run is the e2e security-update test):
 * the running machine's sources file lives beside the provenance, not in /tmp
 * (systemd-tmpfiles empties /tmp at boot), and a sources file that vanished
 * stops the script before apt could "upgrade" from the lists it already had
 * (apt takes a missing Dir::Etc::SourceList for an empty one and exits 0).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { insideUpgradeArgv, upgradeArgv } from '../../src/machine/upgrade-run.js';

/** A directory with apt-get and dpkg that log their argv and the sources file's text; `updateDoes` runs inside apt-get update. */
function fakeTools(dir: string, updateDoes = ''): { env: NodeJS.ProcessEnv; log: string } {
  const bin = join(dir, 'bin');
  const log = join(dir, 'calls.log');
  mkdirSync(bin);
  const apt = [
    '#!/bin/sh',
    `echo "apt-get $*" >>'${log}'`,
    'for a in "$@"; do case $a in Dir::Etc::SourceList=*) src=${a#Dir::Etc::SourceList=};; esac; done',
    `[ -f "$src" ] && echo "sources: $(cat -- "$src")" >>'${log}'`,
    `case " $* " in *" update "*) ${updateDoes} ;; esac`,
    'exit 0',
  ].join('\n');
  writeFileSync(join(bin, 'apt-get'), `${apt}\n`);
  writeFileSync(join(bin, 'dpkg'), `#!/bin/sh\necho "dpkg $*" >>'${log}'\n`);
  chmodSync(join(bin, 'apt-get'), 0o755);
  chmodSync(join(bin, 'dpkg'), 0o755);
  return { env: { PATH: `${bin}:/usr/bin:/bin`, LC_ALL: 'C' }, log };
}

function run(argv: string[], env: NodeJS.ProcessEnv) {
  return spawnSync(argv[0] as string, argv.slice(1), { encoding: 'utf8', env });
}

test('running machine: the sources file is made beside the provenance, read by both apt-get runs, then removed; the provenance is written after', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nk-upgrade-script-'));
  try {
    const state = join(dir, 'var-lib-nspawn-kit');
    mkdirSync(state);
    const { env, log } = fakeTools(dir);
    const r = run(insideUpgradeArgv(join(state, 'provenance.json'), 'Types: deb\n', '{"p":1}\n'), env);
    assert.is(r.status, 0, r.stderr);
    const calls = readFileSync(log, 'utf8').trim().split('\n');
    assert.is(calls.length, 5, calls.join('\n'));
    assert.match(calls[0] as string, /^dpkg --force-confdef --force-confold --configure -a$/);
    const srcOf = (line: string) => /Dir::Etc::SourceList=(\S+)/.exec(line)?.[1];
    const src = srcOf(calls[1] as string);
    assert.ok(src?.startsWith(`${state}/upgrade.`) && src.endsWith('.sources'), String(src));
    assert.match(calls[1] as string, / update --error-on=any$/);
    assert.is(calls[2], 'sources: Types: deb');
    assert.is(srcOf(calls[3] as string), src);
    assert.match(calls[3] as string, / upgrade --with-new-pkgs$/);
    assert.is(calls[4], 'sources: Types: deb');
    assert.equal(readdirSync(state), ['provenance.json'], 'the sources file is gone, the provenance is there');
    assert.is(readFileSync(join(state, 'provenance.json'), 'utf8'), '{"p":1}\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('running machine: a sources file removed under apt-get update (what tmpfiles does to /tmp at boot) stops the script before the upgrade; no provenance', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nk-upgrade-script-'));
  try {
    const state = join(dir, 'state');
    mkdirSync(state);
    const { env, log } = fakeTools(dir, 'rm -f -- "$src"');
    const r = run(insideUpgradeArgv(join(state, 'provenance.json'), 'Types: deb\n', '{}\n'), env);
    assert.is(r.status, 1);
    assert.match(r.stderr, /nspawn-kit: the upgrade's sources file \S+\/state\/upgrade\.\S+\.sources is gone or empty/);
    const calls = readFileSync(log, 'utf8');
    assert.match(calls, / update --error-on=any/);
    assert.not.match(calls, / upgrade --with-new-pkgs/);
    assert.equal(readdirSync(state), [], 'nothing left, no provenance written');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('stopped machine: a missing or empty sources file stops the script before apt-get runs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nk-upgrade-script-'));
  try {
    const { env, log } = fakeTools(dir);
    const missing = run(upgradeArgv(join(dir, 'upgrade.sources')), env);
    assert.is(missing.status, 1);
    assert.match(missing.stderr, /the upgrade's sources file \S+upgrade\.sources is gone or empty/);
    writeFileSync(join(dir, 'upgrade.sources'), '');
    const empty = run(upgradeArgv(join(dir, 'upgrade.sources')), env);
    assert.is(empty.status, 1);
    assert.not.match(readFileSync(log, 'utf8'), /apt-get/);
    writeFileSync(join(dir, 'upgrade.sources'), 'Types: deb\n');
    const fine = run(upgradeArgv(join(dir, 'upgrade.sources')), env);
    assert.is(fine.status, 0, fine.stderr);
    assert.is(readFileSync(log, 'utf8').match(/^apt-get /gm)?.length, 2);
    assert.ok(existsSync(join(dir, 'upgrade.sources')), 'the host removes its own file, not the script');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
