/**
 * `--json` on every command of the program (issue 15): the commands are
 * enumerated from buildProgram(), so a command added without a case here
 * fails the first test. Each runs against a temporary configuration with
 * fixtures made here (real .debs imported and published with the real tools,
 * a fake machine root with its provenance record), dry-run (-n) where it
 * would change the system; stdout is JSON.parse'd (one document, or JSON lines
 * for the long-running ones: started, lines read, stopped with SIGTERM), and
 * every stderr line is a JSON event object. Errors under --json (ours, the
 * configuration's, commander's usage errors) are one {"event":"error"} line
 * on stderr with error, hint and exitCode, and nothing on stdout.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { buildProgram } from '../../src/program.js';
import { Shell } from '../../src/shell.js';
import { FIRSTBOOT } from '../../src/machine/paths.js';
import { writeProvenance } from '../../src/machine/provenance.js';
import { cli, cliEnv, entry, type CliResult } from '../helpers/cli.js';
import { makeDeb } from '../helpers/debs.js';
import { firstBootMarker, provenanceRecord } from '../helpers/records.js';

const base = mkdtempSync(join(tmpdir(), 'nk-cli-json-'));
const archives = join(base, 'archives');
const machines = join(base, 'machines');
const cfg = join(base, 'nspawnrc.json');
mkdirSync(archives);
writeFileSync(
  cfg,
  JSON.stringify({
    stateDir: join(base, 'state'),
    mirror: { root: join(base, 'mirror'), archives: [{ path: archives, codename: 'bookworm' }] },
    machines: { dir: machines, settingsDir: join(base, 'nspawn'), unitDir: join(base, 'units') },
  }),
);
const run = (...args: string[]): CliResult => cli(['--config', cfg, ...args], { cwd: base, env: { NO_COLOR: '1' }, timeoutMs: 180_000 });

type Json = Record<string, unknown>;

/** Every stderr line is one JSON object with a string "event" (none may be plain text under --json). */
function stderrEvents(r: CliResult, what: string): Json[] {
  return r.stderr
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      let v: unknown;
      try {
        v = JSON.parse(l);
      } catch {
        assert.unreachable(`${what}: a stderr line is not JSON: ${l}`);
      }
      assert.type((v as Json).event, 'string', `${what}: ${l}`);
      return v as Json;
    });
}

/** One JSON document on stdout, exit code as expected, JSON events only on stderr. */
function document(args: string[], code = 0): Json {
  const r = run('--json', ...args);
  assert.is(r.code, code, `${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
  const events = stderrEvents(r, args.join(' '));
  assert.not.ok(events.some((e) => e.event === 'error'), `${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Json;
}

/** The one error line of a failed --json run: nothing on stdout, the error event last, with error, hint, exitCode. */
function errorEvent(r: CliResult, code: number): Json {
  assert.is(r.code, code, r.stderr);
  assert.is(r.stdout, '');
  const events = stderrEvents(r, 'error run');
  const last = events.at(-1);
  assert.ok(last, 'an error line');
  assert.is(last.event, 'error');
  assert.is(events.filter((e) => e.event === 'error').length, 1, r.stderr);
  assert.type(last.error, 'string');
  assert.type(last.hint, 'string');
  assert.is(last.exitCode, code);
  return last;
}

/**
 * A long-running command under --json: started, stdout read until `ready` is
 * seen, stopped with SIGTERM. Every stdout line must be a JSON object with an
 * "event"; every stderr line too.
 */
async function jsonLines(args: string[], ready: (e: Json) => boolean): Promise<Json[]> {
  const child = spawn(process.execPath, [...entry(), '--config', cfg, '--json', ...args], { cwd: base, env: cliEnv({ NO_COLOR: '1' }), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const parsed = (): Json[] => stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Json);
  try {
    const end = Date.now() + 60_000;
    while (!stdout.endsWith('\n') || !parsed().some(ready)) {
      if (Date.now() > end || child.exitCode !== null) throw new Error(`${args.join(' ')}: not ready\nstdout:\n${stdout}\nstderr:\n${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    child.kill('SIGTERM');
  }
  assert.is(await exited, 0, stderr);
  const lines = parsed();
  for (const l of lines) assert.type(l.event, 'string', JSON.stringify(l));
  stderrEvents({ code: 0, stdout: '', stderr }, args.join(' '));
  return lines;
}

const daemonReady = (e: Json) => e.event === 'daemon-ready';

/** What each command is run with under --json, and what its document must hold. */
const cases: Record<string, () => void | Promise<void>> = {
  config: () => {
    const doc = document(['config']);
    assert.is((doc.mirror as Json).root, join(base, 'mirror'));
    const recipe = document(['config', '--recipe', 'bookworm-minimal']);
    assert.is(recipe.name, 'bookworm-minimal');
  },
  doctor: () => {
    const r = run('--json', 'doctor');
    const doc = JSON.parse(r.stdout) as { tools: unknown[]; missingRequired: string[] };
    assert.ok(doc.tools.length > 5);
    assert.is(r.code, doc.missingRequired.length ? 1 : 0);
  },
  'mirror import': () => {
    const doc = document(['mirror', 'import']);
    // Imported in the set-up already: present, nothing new.
    assert.equal(doc.imported, []);
    assert.is((doc.alreadyPresent as unknown[]).length + (doc.unchanged as number), 1);
  },
  'mirror publish': () => {
    const doc = document(['-n', 'mirror', 'publish']);
    assert.equal((doc.suites as { codename: string }[]).map((s) => s.codename).includes('bookworm'), true);
  },
  'mirror warm': () => {
    const doc = document(['-n', 'mirror', 'warm', 'bookworm-minimal']);
    assert.is(doc.dryRun, true);
    assert.equal((doc.recipes as { recipe: string }[]).map((x) => x.recipe), ['bookworm-minimal']);
  },
  'mirror refresh': () => {
    const doc = document(['-n', 'mirror', 'refresh']);
    assert.equal(doc.problems, []);
    assert.type(doc.summary, 'string');
  },
  'mirror gc': () => {
    const doc = document(['-n', 'mirror', 'gc']);
    assert.is(doc.dryRun, true);
    assert.equal(doc.deleted, []);
  },
  'mirror verify': () => {
    const doc = document(['mirror', 'verify']);
    assert.is(doc.ok, true);
  },
  'mirror serve': async () => {
    const lines = await jsonLines(['mirror', 'serve', '--port', '0'], (e) => e.event === 'listening');
    assert.equal(lines.map((l) => l.event), ['listening', 'stopped']);
    assert.match(String(lines[0]?.url), /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.is(lines[0]?.root, join(base, 'mirror'));
  },
  status: () => {
    const doc = document(['status']);
    assert.equal((doc.suites as { codename: string; packages: number }[]).find((s) => s.codename === 'bookworm')?.packages, 1);
  },
  create: () => {
    const doc = document(['-n', 'create', 'bookworm-minimal', '--name', 'fresh']);
    assert.is(doc.name, 'fresh');
    assert.is(doc.recipe, 'bookworm-minimal');
    assert.ok((doc.planned as string[]).some((c) => c.startsWith('debootstrap ')), JSON.stringify(doc.planned));
    assert.ok((doc.timings as unknown[]).length > 0);
  },
  provision: () => {
    // Provisioned already (its first-boot result is there): the report, not booted.
    const doc = document(['-n', 'provision', 'web']);
    assert.equal([doc.name, doc.booted, (doc.result as Json).status, (doc.result as Json).exitCode], ['web', false, 'success', 0]);
  },
  boot: () => {
    const doc = document(['-n', 'boot', 'web']);
    assert.equal(doc.exitCode, 0);
    assert.is(doc.how, 'systemd-nspawn');
    assert.ok((doc.planned as string[]).some((c) => c.startsWith('systemd-nspawn ') && c.includes('--machine=web')), JSON.stringify(doc));
  },
  run: () => {
    const doc = document(['-n', 'run', 'web', '--', 'echo', '--json']);
    assert.equal([doc.name, doc.command, doc.exitCode, doc.stdout], ['web', ['echo', '--json'], 0, '']);
    assert.ok((doc.planned as string[]).some((c) => c.startsWith('systemd-nspawn ') && c.endsWith('-- echo --json')), JSON.stringify(doc));
  },
  list: () => {
    const doc = document(['list']) as unknown as { name: string }[];
    assert.equal(doc.map((m) => m.name), ['web']);
  },
  upgrade: () => {
    const doc = document(['-n', 'upgrade', 'web']) as unknown as { name: string }[];
    assert.equal(doc.map((m) => m.name), ['web']);
  },
  rm: () => {
    const doc = document(['-n', 'rm', 'web']);
    assert.type(doc, 'object');
  },
  migrate: () => {
    const doc = document(['-n', 'migrate', 'web']);
    assert.is(doc.migrated, false);
  },
  daemon: async () => {
    const lines = await jsonLines(['-n', 'daemon'], daemonReady);
    assert.equal(lines.map((l) => l.event).slice(-2), ['stopping', 'stopped']);
  },
  watch: async () => {
    const lines = await jsonLines(['-n', 'watch'], daemonReady);
    assert.equal(lines.find(daemonReady)?.watch, true);
  },
  schedule: async () => {
    const lines = await jsonLines(['-n', 'schedule'], daemonReady);
    assert.equal(lines.find(daemonReady)?.schedule, true);
  },
  'install-units': () => {
    // The unit runs the built bin (dist/cli.js): run from the TypeScript source there is none to point it at.
    if (entry()[0]?.endsWith('.js')) {
      const doc = document(['-n', 'install-units', '--unit-dir', join(base, 'units')]);
      assert.equal(doc.written, [join(base, 'units', 'nspawn-kit-daemon.service')]);
    } else {
      const e = errorEvent(run('--json', '-n', 'install-units', '--unit-dir', join(base, 'units')), 1);
      assert.match(String(e.error), 'install-units needs the built CLI');
      assert.is(e.hint, 'Run `npm run build` first, or use the installed nspawn-kit.');
    }
  },
};

/** The commands a user can run: the leaves of the program's tree, by their words ("mirror import"). */
function leaves(cmd: Command, prefix: string[] = []): string[] {
  return cmd.commands.flatMap((c) => (c.commands.length ? leaves(c, [...prefix, c.name()]) : [[...prefix, c.name()].join(' ')]));
}

test.before(async () => {
  makeDeb(archives, { name: 'json-nk' });
  for (const args of [['mirror', 'import'], ['mirror', 'publish']]) {
    const r = run(...args);
    assert.is(r.code, 0, r.stderr);
  }
  const root = join(machines, 'web');
  mkdirSync(join(root, 'etc'), { recursive: true });
  mkdirSync(join(root, 'var/lib/dpkg'), { recursive: true });
  writeFileSync(join(root, 'var/lib/dpkg/status'), 'Package: json-nk\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0-1\n');
  await writeProvenance(new Shell({ log: () => undefined }), root, provenanceRecord({ machine: 'web', suites: { bookworm: 'c'.repeat(64) } }));
  mkdirSync(dirname(join(root, FIRSTBOOT.marker)), { recursive: true });
  writeFileSync(join(root, FIRSTBOOT.marker), firstBootMarker());
});

test.after(() => {
  try {
    execFileSync('gpgconf', ['--homedir', join(base, 'state', 'gnupg'), '--kill', 'all'], { stdio: 'ignore' });
  } catch {
    /* no agent started */
  }
  rmSync(base, { recursive: true, force: true });
});

test('every command of the program has a --json case here, and no case names a command that is gone', () => {
  const commands = leaves(buildProgram());
  assert.ok(commands.length >= 22, commands.join(', '));
  assert.equal(commands.filter((c) => !(c in cases)), [], 'commands without a --json case');
  assert.equal(Object.keys(cases).filter((c) => !commands.includes(c)), [], 'cases of commands that do not exist');
});

for (const [name, check] of Object.entries(cases)) test(`--json ${name}: stdout parses as JSON, stderr lines are JSON events`, check);

test('--json errors: ours, a configuration error and commander\'s usage errors are one error event on stderr', () => {
  const usage = errorEvent(run('--json', 'mirror', 'import', '--from', archives), 2);
  assert.equal([usage.error, usage.hint], ['--from and --codename go together', 'Run with --help for usage.']);
  const config = errorEvent(cli(['--json', '--config', join(base, 'missing.json'), 'status']), 2);
  assert.equal(config.problems, [`${join(base, 'missing.json')}: no such configuration file`]);
  assert.is(errorEvent(run('--json', 'mirror', 'import', '--bogus'), 2).error, "unknown option '--bogus'");
  assert.is(errorEvent(run('--json', 'bogus'), 2).error, "unknown command 'bogus'");
  assert.is(errorEvent(run('--json', 'mirror'), 2).error, 'no command given');
  const missing = errorEvent(run('--json', '-n', 'rm', 'nosuch'), 1);
  assert.is(missing.error, `no machine nosuch under ${machines}`);
  assert.is(missing.hint, '`nspawn-kit list` shows the machines.');
});

test('without --json, every error line starts with the one prefix "nspawn-kit: "', () => {
  for (const args of [['mirror', 'import', '--from', archives], ['mirror', 'import', '--bogus'], ['bogus'], ['-n', 'rm', 'nosuch']]) {
    const r = run(...args);
    assert.ok(r.code === 1 || r.code === 2, `${args.join(' ')}: ${r.code}`);
    assert.is(r.stdout, '');
    assert.match(r.stderr, /^nspawn-kit: \S/, r.stderr);
  }
});

test.run();
