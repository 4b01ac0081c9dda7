import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, ROOT } from '../helpers/cli.js';
import { ConfigSchema } from '../../src/config/schema.js';
import { renderSchemas } from '../../src/config/write-schema.js';
import { fixHost, missingPackages, overlayState, runDoctor } from '../../src/host/doctor.js';
import { Shell } from '../../src/shell.js';

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
    const r = cli(['config'], { cwd: dir });
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

test('doctor --json reports tools, versions and systemd PID 1', () => {
  const r = cli(['--json', 'doctor']);
  const report = JSON.parse(r.stdout) as { tools: { tool: string; found: boolean; neededBy: string[] }[]; systemdPid1: boolean };
  const names = report.tools.map((t) => t.tool);
  for (const t of ['debootstrap', 'systemd-nspawn', 'apt-ftparchive', 'gpg', 'mmdebstrap', 'apt-move']) assert.ok(names.includes(t), t);
  assert.is(typeof report.systemdPid1, 'boolean');
  assert.is(r.code, report.tools.some((t) => !t.found && ['debootstrap', 'gpg'].includes(t.tool)) ? 1 : 0);
});

test('doctor: overlayfs loaded, loadable as a module, or missing (then machines are copies)', () => {
  assert.is(overlayState('nodev\tsysfs\n\text4\nnodev\toverlay\n', undefined), 'loaded');
  assert.is(overlayState('nodev\tsysfs\n\text4\n', '/lib/modules/6.1.0/kernel/fs/overlayfs'), 'module available');
  assert.is(overlayState('nodev\tsysfs\nnodev\toverlayfs-like\n', undefined), 'missing');
  const r = cli(['--json', 'doctor']);
  assert.ok(['loaded', 'module available', 'missing'].includes((JSON.parse(r.stdout) as { overlayfs: string }).overlayfs));
});

test('doctor --fix in dry-run plans exactly apt-get update + install of the missing packages, and runs nothing', async () => {
  const sh = new Shell({ dryRun: true, log: () => {} });
  const report = await runDoctor(sh);
  const fake = {
    ...report,
    tools: report.tools.map((t) => (t.tool === 'mmdebstrap' || t.tool === 'debootstrap' ? { ...t, found: false, path: undefined } : t)),
  };
  assert.equal(missingPackages(fake), ['debootstrap', 'mmdebstrap']);
  assert.equal(missingPackages(fake, false), ['debootstrap']);
  const installed = await fixHost(sh, fake, true);
  assert.equal(installed, ['debootstrap', 'mmdebstrap']);
  assert.equal(sh.planned, ['apt-get update -q', 'apt-get install -y -q --no-install-recommends -- debootstrap mmdebstrap']);
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
