/**
 * `list` counts updates from a machine's dpkg status (made here, in fake
 * roots) and a mirror published with the real publish (apt-ftparchive, gpg):
 * the release, its -updates and its -security suites. Hostile status files
 * (a symlink, a FIFO, an oversized file, a bad stanza) leave `list` usable,
 * saying what is wrong.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Shell } from '../../src/shell.js';
import type { MirrorContext } from '../../src/mirror/context.js';
import { mirrorLayout, poolRelativePath, suiteListPath } from '../../src/mirror/layout.js';
import { publishMirror } from '../../src/mirror/publish.js';
import { stopGpgAgent } from '../../src/mirror/keys.js';
import { listMachines, formatMachineTable } from '../../src/machine/list.js';
import { writeProvenance } from '../../src/machine/provenance.js';
import { makeConfig } from '../helpers/config.js';
import { makeDeb, type DebSpec } from '../helpers/debs.js';
import { provenanceRecord } from '../helpers/records.js';
import { cli } from '../helpers/cli.js';

const base = mkdtempSync(join(tmpdir(), 'nk-list-updates-'));
const config = makeConfig(base);
const sh = new Shell({ log: () => {} });
const ctx: MirrorContext = { sh, config, log: () => {} };
const layout = mirrorLayout(config);
const SUITES = ['bookworm', 'bookworm-updates', 'bookworm-security'];

function addDebs(suite: string, specs: DebSpec[]): void {
  const rels = specs.map((spec) => {
    const deb = makeDeb(join(base, 'debs'), spec);
    const rel = poolRelativePath({ name: spec.name, version: spec.version ?? '1.0-1', architecture: spec.arch ?? 'amd64' });
    mkdirSync(dirname(join(layout.root, rel)), { recursive: true });
    copyFileSync(deb, join(layout.root, rel));
    return rel;
  });
  const list = suiteListPath(layout, suite);
  const old = existsSync(list) ? readFileSync(list, 'utf8').split('\n').filter(Boolean) : [];
  mkdirSync(dirname(list), { recursive: true });
  writeFileSync(list, `${[...new Set([...old, ...rels])].sort().join('\n')}\n`);
}

const stanza = (name: string, version: string, arch = 'amd64', status = 'install ok installed') =>
  `Package: ${name}\nStatus: ${status}\nPriority: optional\nArchitecture: ${arch}\nVersion: ${version}\nDescription: ${name}\n made at test time\n`;

const STATUS = [stanza('hello', '1.0-1'), stanza('nk-data', '1.0-1', 'all'), stanza('curl', '7.0-1'), stanza('gone', '1.0-1', 'amd64', 'deinstall ok config-files')].join('\n');

async function machine(name: string, suites: string[] | undefined): Promise<string> {
  const root = join(config.machines.dir, name);
  mkdirSync(join(root, 'etc'), { recursive: true });
  mkdirSync(join(root, 'var/lib/dpkg'), { recursive: true });
  const sha = 'c'.repeat(64);
  await writeProvenance(sh, root, provenanceRecord({ machine: name, ...(suites ? { suites: Object.fromEntries(suites.map((s) => [s, sha])) } : {}) }));
  return join(root, 'var/lib/dpkg/status');
}

test.before(async () => {
  addDebs('bookworm', [{ name: 'hello', version: '1.0-1' }, { name: 'nk-data', version: '1.0-1', arch: 'all' }, { name: 'curl', version: '7.0-1' }, { name: 'gone', version: '2.0-1' }]);
  addDebs('bookworm-updates', [{ name: 'nk-data', version: '1.1-1', arch: 'all' }]);
  // A newer hello in -security; a newer curl for another architecture only (not configured: not offered).
  addDebs('bookworm-security', [{ name: 'hello', version: '1.0-1+deb12u1' }]);
  const report = await publishMirror(ctx);
  assert.equal(report.suites.map((s) => s.codename).sort(), [...SUITES].sort());

  writeFileSync(await machine('web', SUITES), STATUS);
  // Built before update suites: no recorded suites, a recipe this configuration cannot resolve: its codename only.
  writeFileSync(await machine('old', undefined), STATUS);
  const link = await machine('linked', SUITES);
  symlinkSync(join(config.machines.dir, 'web/var/lib/dpkg/status'), link);
  execFileSync('mkfifo', ['--', await machine('fifo', SUITES)]);
  const big = await machine('huge', SUITES);
  writeFileSync(big, STATUS);
  truncateSync(big, 32 * 1024 * 1024 + 1);
  writeFileSync(await machine('badver', SUITES), `${STATUS}\n${stanza('evil', '1.0 $(reboot)')}`);
});

test.after(async () => {
  await stopGpgAgent(ctx);
  await sh.remove(base);
});

test('list: upgradable and security counts per machine from its dpkg status and the published suites', async () => {
  const list = await listMachines({ sh, config }, { sizes: false });
  const by = new Map(list.map((m) => [m.name, m]));
  assert.equal([...by.keys()], ['badver', 'fifo', 'huge', 'linked', 'old', 'web']);
  const web = by.get('web');
  assert.equal(web?.updates, {
    suites: SUITES,
    upgradable: 2,
    security: 1,
    packages: [
      { name: 'hello', architecture: 'amd64', installed: '1.0-1', candidate: '1.0-1+deb12u1', suite: 'bookworm-security', security: true },
      { name: 'nk-data', architecture: 'all', installed: '1.0-1', candidate: '1.1-1', suite: 'bookworm-updates', security: false },
    ],
  });
  assert.is(web?.updateProblems, undefined);
  assert.equal(by.get('old')?.updates, { suites: ['bookworm'], upgradable: 0, security: 0, packages: [] });
  assert.is(web?.problem, undefined, 'the machine itself is fine');
});

test('hostile dpkg status files: not followed, not waited on, not read past the cap; list says what is wrong', async () => {
  const list = await listMachines({ sh, config }, { sizes: false });
  const by = new Map(list.map((m) => [m.name, m]));
  const status = (name: string) => join(config.machines.dir, name, 'var/lib/dpkg/status');
  assert.equal(by.get('linked')?.updateProblems, [`updates unknown: ${status('linked')} is a symbolic link; not followed`]);
  assert.equal(by.get('fifo')?.updateProblems, [`updates unknown: ${status('fifo')} is a FIFO; not read`]);
  assert.equal(by.get('huge')?.updateProblems, [`updates unknown: ${status('huge')} has 33554433 bytes, more than the 33554432 a dpkg status file may have; not read`]);
  for (const name of ['linked', 'fifo', 'huge']) assert.is(by.get(name)?.updates, undefined, name);
  // A bad stanza is left out and named; the rest still counts.
  const bad = by.get('badver');
  assert.equal([bad?.updates?.upgradable, bad?.updates?.security], [2, 1]);
  assert.equal(bad?.updateProblems, [`${status('badver')}: stanza 5 (Package "evil"): Version "1.0 $(reboot)" is not a Debian version; left out`]);
  const table = formatMachineTable(list).split('\n');
  assert.match(table[0] ?? '', /^NAME\s+RECIPE\s+CODENAME\s+PUBLICATION\s+UPDATES\s+SIZE/);
  assert.match(table.find((l) => l.startsWith('web ')) ?? '', /^web\s+bookworm-minimal\s+bookworm\s+bbbbbbbbbbbb\s+2 \(1 security\)\s+0 MiB/);
  assert.match(table.find((l) => l.startsWith('fifo ')) ?? '', /^fifo\s+bookworm-minimal\s+bookworm\s+bbbbbbbbbbbb\s+\?\s+0 MiB\s+-\s+copy\s+unknown\s+stopped$/);
  assert.match(table.find((l) => l.startsWith('old ')) ?? '', /^old\s+bookworm-minimal\s+bookworm\s+bbbbbbbbbbbb\s+0\s+0 MiB/);
  assert.ok(table.includes(`fifo: updates unknown: ${status('fifo')} is a FIFO; not read`), table.join('\n'));
});

test('the CLI: `list` prints the counts and the problems, `list --json` the packages', () => {
  const cfg = join(base, 'nspawnrc.json');
  writeFileSync(cfg, JSON.stringify({ stateDir: config.stateDir, mirror: { root: config.mirror.root, archives: [] }, machines: { dir: config.machines.dir } }));
  const plain = cli(['--config', cfg, 'list'], { env: { NO_COLOR: '1' } });
  assert.is(plain.code, 0, plain.stderr);
  assert.match(plain.stdout, /^web\s+bookworm-minimal\s+bookworm\s+bbbbbbbbbbbb\s+2 \(1 security\)/m);
  assert.match(plain.stdout, /^huge: updates unknown: .* has 33554433 bytes, more than the 33554432 a dpkg status file may have; not read$/m);
  const json = cli(['--config', cfg, '--json', 'list'], { env: { NO_COLOR: '1' } });
  assert.is(json.code, 0, json.stderr);
  const web = (JSON.parse(json.stdout) as Array<{ name: string; updates?: { security: number; packages: Array<{ name: string; installed: string; candidate: string; suite: string }> } }>).find((m) => m.name === 'web');
  assert.equal(web?.updates?.packages.map((p) => [p.name, p.installed, p.candidate, p.suite]), [
    ['hello', '1.0-1', '1.0-1+deb12u1', 'bookworm-security'],
    ['nk-data', '1.0-1', '1.1-1', 'bookworm-updates'],
  ]);
});

test.run();
