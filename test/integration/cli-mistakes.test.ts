/**
 * Issue 15's table of common mistakes (rows of helper E), each through the
 * real CLI: the exact message (what, where, what to do) and the exit code.
 * Everything lives in one temporary directory; the unreachable upstream is
 * http://127.0.0.1:1 (nothing listens there), and the real apt-get runs
 * against it in a private root under that directory.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from '../helpers/cli.js';

const base = mkdtempSync(join(tmpdir(), 'nk-mistakes-'));
chmodSync(base, 0o755);
const NOBODY = 65534;
const isRoot = process.geteuid?.() === 0;
const RULE =
  'a machine name must be a valid host name, as systemd-nspawn requires: ASCII letters, digits and "-" in labels separated by single ".", no label starting or ending with "-", at most 64 characters (no "_")';

/** A configuration file in `base` whose paths all lie in `dir`, plus `extra` keys. */
function writeConfig(name: string, extra: Record<string, unknown> = {}, dir = join(base, name.replace(/\W/g, '-'))): { file: string; dir: string } {
  const file = join(base, name);
  const { mirror, ...rest } = extra as { mirror?: Record<string, unknown> };
  writeFileSync(
    file,
    JSON.stringify({
      stateDir: join(dir, 'state'),
      mirror: { root: join(dir, 'mirror'), archives: [], ...mirror },
      machines: { dir: join(dir, 'machines'), settingsDir: join(dir, 'nspawn'), unitDir: join(dir, 'units') },
      ...rest,
    }),
  );
  return { file, dir };
}

/** The lines of an error: the "nspawn-kit: " line, its continuation lines, the hint. */
function errorLines(stderr: string): string[] {
  const start = stderr.split('\n').findIndex((l) => l.startsWith('nspawn-kit: '));
  assert.ok(start >= 0, `no error line in:\n${stderr}`);
  return stderr.split('\n').slice(start).filter((l) => l !== '');
}

test('row 1: an invalid schedule.refresh or schedule.timezone is refused at load, by `config` too, with file, key path and exit 2', () => {
  const { file } = writeConfig('schedule.json', { schedule: { refresh: '61 * * * *', timezone: 'Mars/Olympus' } });
  for (const args of [['config'], ['list']]) {
    const r = cli(['--config', file, ...args]);
    assert.is(r.code, 2, r.stderr);
    assert.is(r.stdout, '');
    assert.equal(errorLines(r.stderr), [
      'nspawn-kit: invalid configuration:',
      `  - ${file}: schedule.refresh: not a valid cron expression: expected 5 fields "minute hour day-of-month month day-of-week" (or 6 with seconds first), e.g. "17 3 * * *" (got "61 * * * *")`,
      `  - ${file}: schedule.timezone: unknown time zone: expected an IANA name like "Europe/Berlin" or "UTC" (got "Mars/Olympus")`,
      '  → Fix the configuration and run again; `nspawn-kit config` shows the resolved result.',
    ]);
  }
  const good = writeConfig('schedule-ok.json', { schedule: { refresh: '*/10 2-4 * * 1-5', timezone: 'Europe/Berlin' } });
  const ok = cli(['--config', good.file, 'config']);
  assert.is(ok.code, 0, ok.stderr);
  assert.equal((JSON.parse(ok.stdout) as { schedule: unknown }).schedule, { refresh: '*/10 2-4 * * 1-5', timezone: 'Europe/Berlin' });
});

test('row 2: a JSON config with a trailing comma (or another syntax error) names line and column; YAML keeps its line and column', () => {
  const cases: Array<[string, string, string]> = [
    ['comma.json', '{\n  "schedule": {\n    "refresh": "1 * * * *"\n  },\n}\n', 'line 4, column 4: a trailing comma before "}" (JSON allows none; remove it)'],
    ['array-comma.json', '{"recipeDirs": ["a", ],\n "x": 1}', 'line 1, column 20: a trailing comma before "]" (JSON allows none; remove it)'],
    ['colon.json', '{\n  "stateDir" "/x"\n}', 'line 2, column 14: expected ":" after the key, found "\\""'],
    ['cut.json', '{\n  "stateDir": "/x",\n', 'line 3, column 1: the file ends where a double-quoted key should be'],
    ['newline.json', '{"stateDir": "/x\n"}', 'line 1, column 17: a control character (a newline?) inside a string: write it as an escape like \\n'],
    ['flow.yaml', 'schedule:\n  refresh: [\n', 'line 3, column 1: unexpected end of the stream within a flow collection'],
    ['indent.yaml', 'stateDir: /x\n mirror: 1\n', 'line 2, column 8: bad indentation of a mapping entry'],
  ];
  for (const [name, text, where] of cases) {
    const file = join(base, name);
    writeFileSync(file, text);
    const r = cli(['--config', file, 'config']);
    assert.is(r.code, 2, r.stderr);
    assert.equal(errorLines(r.stderr), [
      'nspawn-kit: invalid configuration:',
      `  - ${file}: cannot be parsed: ${where}`,
      '  → Fix the syntax error at that line and column, then run again.',
    ]);
  }
});

test('row 3: machine names follow systemd (a valid host name), checked before anything runs; a recipe name that is none needs --name', () => {
  const { file, dir } = writeConfig('names.json', { recipes: { my_box: { extends: 'bookworm-minimal' } } });
  const refused = (name: string, hint: string, args: string[]) => {
    const r = cli(['--config', file, ...args]);
    assert.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.is(r.stdout, '');
    assert.equal(errorLines(r.stderr), [`nspawn-kit: invalid machine name ${JSON.stringify(name)}: ${RULE}`, `  → Pick a valid name, e.g. ${hint}.`]);
  };
  refused('a_b', 'a-b', ['-n', 'create', 'bookworm-minimal', '--name', 'a_b']);
  refused('a_b', 'a-b', ['create', 'bookworm-minimal', '--name', 'a_b']);
  refused('web-', 'web', ['-n', 'create', 'bookworm-minimal', '--name', 'web-']);
  refused('a..b', 'a.b', ['-n', 'create', 'bookworm-minimal', '--name', 'a..b']);
  refused('x'.repeat(65), 'x'.repeat(64), ['-n', 'create', 'bookworm-minimal', '--name', 'x'.repeat(65)]);
  // Every command that takes a NAME applies the same rule.
  for (const cmd of [['rm', 'a_b'], ['boot', 'a_b'], ['provision', 'a_b'], ['upgrade', 'a_b'], ['run', 'a_b', '--', 'true']]) refused('a_b', 'a-b', cmd);

  const r = cli(['--config', file, '-n', 'create', 'my_box']);
  assert.is(r.code, 2, r.stderr);
  assert.equal(errorLines(r.stderr), [
    `nspawn-kit: recipe "my_box" is no valid machine name, and the machine is named after its recipe unless --name is given: ${RULE}`,
    '  → Pass a machine name with --name, e.g. --name my-box.',
  ]);
  assert.not.ok(existsSync(dir), 'nothing was made before the name was refused');

  // The same recipe with a valid --name (dots separate labels) gets past the name: a dry run plans the machine.
  const ok = cli(['--config', file, '-n', 'create', 'my_box', '--name', 'box.1']);
  assert.is(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, `machine box.1: (dry run) would be created at ${join(dir, 'machines', 'box.1')}`);
});

test('row 4: a non-root user who cannot read the configuration (file, directory, or a HOME above it) is told which and that it needs root, exit 1', () => {
  if (!isRoot) {
    console.log('  (skipped: needs root to run as uid 65534)');
    return;
  }
  const home = join(base, 'home');
  mkdirSync(home, { mode: 0o700 });
  const inHome = writeConfig('home/config.json').file;
  const sysDir = join(base, 'etc-700');
  mkdirSync(sysDir, { mode: 0o700 });
  writeFileSync(join(sysDir, 'config.json'), '{}');
  const sysFile = join(base, 'etc-file');
  mkdirSync(sysFile, { mode: 0o755 });
  writeFileSync(join(sysFile, 'config.json'), '{}', { mode: 0o600 });
  const recipes = join(base, 'etc-recipes');
  mkdirSync(join(recipes, 'recipes.d'), { recursive: true, mode: 0o755 });
  chmodSync(join(recipes, 'recipes.d'), 0o700);

  const asNobody = (args: string[], configDir: string) => cli(args, { env: { HOME: home, NSPAWN_KIT_CONFIG_DIR: configDir }, uid: NOBODY, gid: NOBODY });
  const cases: Array<[string[], string, string, string]> = [
    [['--config', inHome, 'config'], join(base, 'none'), `the configuration file: ${inHome}: its directory ${home} cannot be entered`, home],
    [['config'], sysDir, `the configuration directory: ${sysDir} cannot be read`, sysDir],
    [['list'], join(sysFile), `the configuration file: ${join(sysFile, 'config.json')} cannot be read`, join(sysFile, 'config.json')],
    [['config'], recipes, `the recipe directory: ${join(recipes, 'recipes.d')} cannot be read`, join(recipes, 'recipes.d')],
  ];
  for (const [args, configDir, what, fix] of cases) {
    const r = asNobody(args, configDir);
    assert.is(r.code, 1, r.stderr);
    assert.is(r.stdout, '');
    assert.equal(errorLines(r.stderr), [
      `nspawn-kit: cannot read ${what} (permission denied for uid ${NOBODY})`,
      `  → nspawn-kit reads its configuration as root: run it as root (e.g. with sudo), or make ${fix} readable by uid ${NOBODY}.`,
    ]);
    assert.not.match(r.stderr, /syntax|cannot be parsed/);
  }
});

test('row 5: mirror warm with an unreachable upstream fails naming it, in a dry run and in a real run, exit 1', () => {
  const { file, dir } = writeConfig('unreachable.json', {
    mirror: { upstreams: { bookworm: 'http://127.0.0.1:1/debian' } },
    recipes: { far: { codename: 'bookworm', updates: false } },
  });
  const hint = '  → Check the upstream URL (mirror.upstreams in the configuration, or the upstream of recipe far) and the network, then run again.';
  for (const dry of [['-n'], ['--dry-run']]) {
    const r = cli(['--config', file, ...dry, 'mirror', 'warm', 'far']);
    assert.is(r.code, 1, r.stderr);
    assert.is(r.stdout, '');
    assert.not.match(r.stderr, '.debs needed');
    assert.equal(errorLines(r.stderr), [
      'nspawn-kit: the upstream of recipe far could not be reached:',
      '  bookworm: http://127.0.0.1:1/debian/dists/bookworm/InRelease: connect ECONNREFUSED 127.0.0.1:1',
      hint,
    ]);
  }
  assert.not.ok(existsSync(join(dir, 'state')), 'the dry run wrote nothing');

  // A real run: apt-get update in the private root fails, and says so with the URL and apt's reason.
  const r = cli(['--config', file, 'mirror', 'warm', 'far']);
  assert.is(r.code, 1, r.stderr);
  assert.is(r.stdout, '');
  assert.not.match(r.stderr, '.debs needed');
  const lines = errorLines(r.stderr);
  assert.is(lines[0], 'nspawn-kit: the upstream of recipe far could not be reached:');
  assert.match(lines[1] ?? '', /^ {2}http:\/\/127\.0\.0\.1:1\/debian\/dists\/bookworm\/InRelease: (Could not connect to 127\.0\.0\.1:1 .*Connection refused\)|Unable to connect to 127\.0\.0\.1:1:)$/);
  assert.is(lines[2], hint);
  assert.is(lines.length, 3);
  assert.ok(existsSync(join(dir, 'state', 'mirror', 'warm', 'bookworm', 'apt-far', 'etc', 'apt.conf')), 'the real run used its private apt root');
});

test('row 6: mirror import --from a missing directory, or a file, is a usage error naming it, exit 2, and imports nothing', () => {
  const { file, dir } = writeConfig('import.json');
  const notDir = join(base, 'a-file.deb');
  writeFileSync(notDir, 'not a directory');
  const cases: Array<[string, string[]]> = [
    [
      '/missing',
      ['nspawn-kit: --from "/missing": the directory does not exist', '  → Give --from the directory that holds the .debs to import (e.g. /var/cache/apt/archives).'],
    ],
    [
      notDir,
      [`nspawn-kit: --from ${JSON.stringify(notDir)}: not a directory`, '  → Give --from the directory that holds the .debs to import (e.g. /var/cache/apt/archives), not a file.'],
    ],
  ];
  for (const [from, expected] of cases) {
    const r = cli(['--config', file, 'mirror', 'import', '--from', from, '--codename', 'bookworm']);
    assert.is(r.code, 2, r.stderr);
    assert.is(r.stdout, '');
    assert.equal(errorLines(r.stderr), expected);
  }
  assert.not.ok(existsSync(join(dir, 'mirror')), 'no mirror was touched');
});

test.after(() => rmSync(base, { recursive: true, force: true }));

test.run();
