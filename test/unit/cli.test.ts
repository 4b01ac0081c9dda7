import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, ROOT } from '../helpers/cli.js';
import { ConfigSchema } from '../../src/config/schema.js';
import { renderSchemas } from '../../src/config/write-schema.js';
import { fixHost, formatDoctor, missingPackages, overlayState, type DoctorReport } from '../../src/host/doctor.js';
import { Shell } from '../../src/shell.js';
import { DOCTOR_TOOLS } from '../helpers/doctor-tools.js';

test('--help lists the subcommands; unknown command is exit 2', () => {
  const help = cli(['--help']);
  assert.is(help.code, 0);
  assert.match(help.stdout, 'doctor');
  assert.match(help.stdout, 'config');
  assert.is(cli(['no-such-command']).code, 2);
});

test('config prints the resolved configuration as JSON', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nk-cli-'));
  try {
    const r = cli(['config'], { cwd: dir });
    assert.is(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { mirror: { root: string }; recipes: Record<string, string> };
    assert.is(out.mirror.root, '/var/local/mirrors');
    assert.ok('qgis' in out.recipes);
    const rec = cli(['config', '--recipe', 'bookworm-minimal'], { cwd: dir });
    assert.is(JSON.parse(rec.stdout).codename, 'bookworm');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a broken config exits 2, lists every problem, writes nothing', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nk-cli-'));
  try {
    const state = join(dir, 'state');
    writeFileSync(join(dir, '.nspawnrc.json'), JSON.stringify({ stateDir: state, mirror: { root: join(dir, 'm'), kep: 3 }, recipes: { q: { packages: ['ok', 3] } } }));
    const r = cli(['--config', '.nspawnrc.json', 'config'], { cwd: dir });
    assert.is(r.code, 2);
    assert.match(r.stderr, '.nspawnrc.json: mirror.kep: unknown key (did you mean "keep"?)');
    assert.match(r.stderr, '.nspawnrc.json: recipes.q.packages[1]: expected a string, got 3');
    assert.not.ok(existsSync(state));
    assert.not.ok(existsSync(join(dir, 'm')));
    const unknown = cli(['config', '--recipe', 'nope'], { cwd: ROOT });
    assert.is(unknown.code, 2);
    assert.match(unknown.stderr, 'known recipes: bookworm-minimal');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('doctor: overlayfs loaded, loadable as a module, or missing (then machines are copies)', () => {
  assert.is(overlayState('nodev\tsysfs\n\text4\nnodev\toverlay\n', undefined), 'loaded');
  assert.is(overlayState('nodev\tsysfs\n\text4\nnodev\toverlay\n', '/lib/modules/6.1.0/kernel/fs/overlayfs'), 'loaded');
  assert.is(overlayState('nodev\tsysfs\n\text4\n', '/lib/modules/6.1.0/kernel/fs/overlayfs'), 'module available');
  assert.is(overlayState('nodev\tsysfs\nnodev\toverlayfs-like\n', undefined), 'missing');
  assert.is(overlayState('', undefined), 'missing');
});

/** A doctor report written out (runDoctor probes the host: test/integration/cli-doctor.test.ts). */
function reportWith(missing: string[]): DoctorReport {
  const tools = DOCTOR_TOOLS;
  const status = tools.map(([tool, pkg, optional]) => {
    const found = !missing.includes(tool);
    return { tool, pkg, optional, neededBy: ['test'], found, path: found ? `/usr/bin/${tool}` : undefined, version: found ? '1.0' : undefined, outsidePath: undefined };
  });
  return {
    root: true,
    systemdPid1: false,
    machinectl: 'missing',
    overlayfs: 'loaded',
    tools: status,
    missingRequired: status.filter((t) => !t.found && !t.optional).map((t) => t.tool),
    missingOptional: status.filter((t) => !t.found && t.optional).map((t) => t.tool),
    searchPath: '/usr/sbin:/usr/bin',
    notOnPath: [],
  };
}

test('doctor --fix in dry-run plans exactly apt-get update + install of the missing packages, and runs nothing', async () => {
  const report = reportWith(['mmdebstrap', 'debootstrap', 'systemd-nspawn']);
  assert.equal(missingPackages(report), ['debootstrap', 'systemd-container', 'mmdebstrap']);
  assert.equal(missingPackages(report, false), ['debootstrap', 'systemd-container']);
  const sh = new Shell({ dryRun: true, log: () => {} });
  assert.equal(await fixHost(sh, report, true), ['debootstrap', 'systemd-container', 'mmdebstrap']);
  assert.equal(sh.planned, ['apt-get update -q', 'apt-get install -y -q --no-install-recommends -- debootstrap systemd-container mmdebstrap']);
  const required = new Shell({ dryRun: true, log: () => {} });
  assert.equal(await fixHost(required, report, false), ['debootstrap', 'systemd-container']);
  assert.equal(required.planned, ['apt-get update -q', 'apt-get install -y -q --no-install-recommends -- debootstrap systemd-container']);
  // Nothing missing: nothing planned.
  const none = new Shell({ dryRun: true, log: () => {} });
  assert.equal(await fixHost(none, reportWith([]), true), []);
  assert.equal(none.planned, []);
});

test('doctor text: missing required tools are MISSING, optional ones say so, and the fix line names the packages', () => {
  const text = formatDoctor(reportWith(['gpg', 'lz4']));
  const lines = text.split('\n');
  // Columns: tool (15), state (28), package (18), then what needs it.
  assert.ok(lines.includes('  gpg             MISSING                      gnupg              for test'), text);
  assert.ok(lines.includes('  lz4             missing  (optional)          lz4                for test'), text);
  assert.ok(lines.includes('  xz              ok       1.0                 xz-utils           for test'), text);
  assert.is(lines.at(-1), 'fix: nspawn-kit doctor --fix  (apt-get install gnupg lz4)');
  assert.is(formatDoctor(reportWith([])).split('\n').at(-1), 'all tools present');
});

test('generated JSON Schemas match the zod schema (run `npm run schema` after changing it)', () => {
  for (const [name, text] of Object.entries(renderSchemas())) {
    assert.is(readFileSync(join(ROOT, name), 'utf8'), text, `${name} drifted: run npm run build && npm run schema`);
  }
});

test('nspawnrc.example.json points at the schema and is valid', () => {
  const example = JSON.parse(readFileSync(join(ROOT, 'nspawnrc.example.json'), 'utf8')) as { $schema: string };
  assert.is(example.$schema, './nspawnrc.schema.json');
  const parsed = ConfigSchema.safeParse(example);
  assert.ok(parsed.success, JSON.stringify(parsed.error?.issues));
});

test.run();
