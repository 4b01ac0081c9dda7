/**
 * The task scripts and hooks speak the CLI's language (issue 15): every one
 * of tasks/*.mjs and hooks/*.mjs (the directories are enumerated, none is
 * forgotten) runs with --json and prints one JSON document on stdout, its
 * errors as a JSON event on stderr; error lines start with "nspawn-kit: ";
 * a rejected file ends reindex-on-deb and nightly-refresh with 1, as
 * `mirror import` and `mirror refresh`; the usage texts state the options,
 * defaults, exit codes and both ways to run; listr2 never writes to stdout;
 * and every line `watch --json` prints on stdout is JSON.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, truncateSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { cliEnv, entry, ROOT } from '../helpers/cli.js';
import { makeDeb } from '../helpers/debs.js';
import { zxScript } from '../helpers/zx.js';

const base = mkdtempSync(join(tmpdir(), 'nk-scripts-json-'));
const archives = join(base, 'archives');
const cfg = join(base, 'cfg.json');
mkdirSync(archives);
writeFileSync(
  cfg,
  JSON.stringify({
    stateDir: join(base, 'state'),
    mirror: { root: join(base, 'mirror'), archives: [{ path: archives, codename: 'bookworm' }], architectures: ['amd64'] },
    machines: { dir: join(base, 'machines') },
  }),
);

const scripts = ['tasks', 'hooks'].flatMap((dir) =>
  readdirSync(join(ROOT, dir))
    .filter((f) => f.endsWith('.mjs'))
    .sort()
    .map((f) => `${dir}/${f}`),
);

// The scripts import ../dist: `npm test` builds it first; run alone, build it here.
test.before(() => {
  if (process.env.NSPAWN_KIT_TEST_DIST === '1' && existsSync(join(ROOT, 'dist/tasks/hooks.js'))) return;
  spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'ignore' });
  assert.ok(existsSync(join(ROOT, 'dist/tasks/hooks.js')), 'dist/ could not be built: run `npm run build`');
});

test.after(() => {
  try {
    execFileSync('gpgconf', ['--homedir', join(base, 'state', 'gnupg'), '--kill', 'all'], { stdio: 'ignore' });
  } catch {
    /* no agent */
  }
  rmSync(base, { recursive: true, force: true });
});

/** Every stderr line of a --json run is one JSON object with an "event" field. */
function events(stderr: string): { event: string; [k: string]: unknown }[] {
  const lines = stderr.split('\n').filter((l) => l !== '');
  return lines.map((l) => {
    const e = JSON.parse(l) as { event: string };
    assert.type(e.event, 'string', l);
    return e;
  });
}

/** Runs a script directly (it is executable), piped, from /. */
function direct(script: string, args: string[]) {
  const r = spawnSync(join(ROOT, script), args, { cwd: '/', encoding: 'utf8', env: cliEnv({ PATH: `${dirname(process.execPath)}:/usr/bin:/bin:/usr/sbin:/sbin` }), timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

// The options each script takes beyond the common ones, and the arguments it needs for a dry run on the fixtures.
const RUNS: Record<string, { args: string[]; doc: Record<string, unknown> }> = {
  'tasks/bootstrap.mjs': { args: [], doc: { script: 'bootstrap' } },
  'tasks/cache-dir.mjs': { args: [], doc: { script: 'cache-dir' } },
  'tasks/cache-warming.mjs': { args: ['--recipe', 'bookworm-minimal'], doc: { script: 'cache-warming' } },
  'tasks/config-files.mjs': { args: [], doc: { script: 'config-files' } },
  'tasks/container.mjs': { args: ['--recipe', 'bookworm-minimal', '--name', 'box1'], doc: { script: 'container', machine: 'box1', recipe: 'bookworm-minimal', codename: 'bookworm' } },
  'tasks/firstboot-injection.mjs': { args: ['--name', 'stub'], doc: { script: 'firstboot-injection' } },
  'tasks/index.mjs': { args: [], doc: { script: 'index' } },
  'tasks/install-tools.mjs': { args: [], doc: { script: 'install-tools' } },
  'tasks/qgis-container.mjs': { args: ['--name', 'box2'], doc: { script: 'qgis-container', machine: 'box2', recipe: 'qgis' } },
  'hooks/nightly-refresh.mjs': { args: ['--no-warm'], doc: { hook: 'nightly-refresh', exitCode: 0, problems: [] } },
  'hooks/reindex-on-deb.mjs': { args: [], doc: { hook: 'reindex-on-deb', exitCode: 0 } },
};

test('every task script and hook has a --json dry run here (none forgotten)', () => {
  assert.equal(Object.keys(RUNS).sort(), [...scripts].sort());
  assert.ok(scripts.length >= 11, scripts.join(' '));
});

test('--help of every script: what it does, --json among its options, the exit codes, both ways to run it, the path it was run as', () => {
  for (const script of scripts) {
    const r = direct(script, ['--help']);
    assert.is(r.code, 0, `${script}: ${r.stderr}`);
    assert.is(r.stderr, '', script);
    const lines = r.stdout.split('\n');
    // Run directly, the first line names the file as started (process.argv[1]), not an npx line.
    assert.is(lines[0]?.startsWith(`usage: ${join(ROOT, script)} [OPTIONS]`), true, `${script}: ${lines[0]}`);
    assert.ok(lines[1]?.startsWith('  ') && lines[1].trim().length > 20, `${script}: says what it does: ${lines[1]}`);
    assert.ok(lines.some((l) => /^ {2}--json +stdout: one JSON document/.test(l)), `${script}: --json`);
    assert.ok(lines.some((l) => /^ {2}--config FILE, -c FILE +configuration file/.test(l)), `${script}: --config`);
    assert.ok(lines.some((l) => l.startsWith('exit codes: 0 done; 1 ') && l.includes('; 2 usage or configuration error; 129/130/143 interrupted')), `${script}: exit codes`);
    assert.ok(lines.includes(`  from a checkout:    npx zx ${script} ${lines[0]!.slice(`usage: ${join(ROOT, script)} `.length)}`), `${script}: checkout form`);
    assert.ok(lines.some((l) => l.startsWith(`  installed (.deb):   /usr/share/nspawn-kit/${script} [OPTIONS]`)), `${script}: installed form`);
    for (const option of RUNS[script]!.args.filter((a) => a.startsWith('--'))) assert.ok(lines.some((l) => l.startsWith(`  ${option}`)), `${script}: lists ${option}`);
  }
  // Through zx (the checkout form), the first line says so.
  const viaZx = zxScript('tasks/index.mjs', ['--help']);
  assert.is(viaZx.stdout.split('\n')[0], `usage: npx zx ${join(ROOT, 'tasks/index.mjs')} [OPTIONS]`);
});

test('firstboot-injection: --name is required (text and behaviour agree), the recipe defaults to bookworm-minimal', () => {
  const help = direct('tasks/firstboot-injection.mjs', ['--help']).stdout;
  assert.match(help, /\n {2}--name NAME +the machine to write into \(required\)\n/);
  assert.match(help, /\n {2}--recipe NAME +the recipe whose settings are written \(default: bookworm-minimal;/);
  const r = zxScript('tasks/firstboot-injection.mjs', ['--config', cfg, '--dry-run']);
  assert.is(r.code, 2, r.stderr);
  assert.is(r.stdout, '');
  assert.is(r.stderr, 'nspawn-kit: firstboot-injection: --name NAME is required: the machine to write into\n  → `nspawn-kit list` shows the machines.\n');
  const j = zxScript('tasks/firstboot-injection.mjs', ['--config', cfg, '--dry-run', '--json']);
  assert.is(j.code, 2);
  assert.equal(events(j.stderr), [
    { event: 'error', script: 'firstboot-injection', error: '--name NAME is required: the machine to write into', hint: '`nspawn-kit list` shows the machines.', exitCode: 2 },
  ]);
  // Options a script does not take are refused, not ignored.
  const name = zxScript('tasks/bootstrap.mjs', ['--config', cfg, '--name', 'x', '--dry-run']);
  assert.is(name.code, 2);
  assert.is(name.stderr.split('\n')[0], 'nspawn-kit: bootstrap: unknown option(s): --name');
});

test('listr2 writes to stderr only: a piped real run of cache-dir prints just its summary on stdout', () => {
  const r = zxScript('tasks/cache-dir.mjs', ['--config', cfg]);
  assert.is(r.code, 0, r.stderr);
  const out = r.stdout.split('\n');
  assert.is(out[0], 'time per stage:');
  assert.match(out[1]!, /^ {2}Mirror directories and signing key +\d+\.\d s$/);
  assert.match(out[2]!, /^ {2}total +\d+\.\d s$/);
  assert.is(out.length, 4, r.stdout);
  assert.is(out[3], '');
  // The stage's lines are on stderr: listr2's simple renderer.
  assert.match(r.stderr, /^✔ Mirror directories and signing key: /m);
  assert.ok(existsSync(join(base, 'mirror', 'mirror.asc')));
});

test('every script with --json (dry run where it would change the system): one JSON document on stdout, JSON events on stderr', () => {
  // Fixtures: a valid .deb in the archive, a published mirror (cache-dir above made the key), a machine to inject into.
  makeDeb(archives, { name: 'jsonpkg' });
  const idx = zxScript('tasks/index.mjs', ['--config', cfg]);
  assert.is(idx.code, 0, idx.stderr);
  // A machine's root as far as the injection reads it: the account files.
  mkdirSync(join(base, 'machines', 'stub', 'etc'), { recursive: true });
  writeFileSync(join(base, 'machines', 'stub', 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/bash\n');
  writeFileSync(join(base, 'machines', 'stub', 'etc', 'group'), 'root:x:0:\n');
  writeFileSync(join(base, 'machines', 'stub', 'etc', 'shadow'), 'root:*:19000:0:99999:7:::\n');
  rmSync(join(archives, 'jsonpkg_1.0-1_amd64.deb'));
  for (const script of scripts) {
    const run = RUNS[script]!;
    const r = zxScript(script, ['--config', cfg, '--dry-run', '--json', ...run.args]);
    assert.is(r.code, 0, `${script}: ${r.stderr}`);
    const doc = JSON.parse(r.stdout) as Record<string, unknown>;
    for (const [k, v] of Object.entries(run.doc)) assert.equal(doc[k], v, `${script}: ${k} in ${r.stdout}`);
    assert.is(doc.dryRun, true, script);
    if (script === 'tasks/index.mjs') assert.equal((doc.suites as { codename: string; packages: number }[]).map((x) => [x.codename, x.packages]), [['bookworm', 1], ['bookworm-security', 0], ['bookworm-updates', 0]]);
    const evs = events(r.stderr);
    assert.not.ok(evs.some((e) => e.event === 'error'), `${script}: ${r.stderr}`);
    if (script.startsWith('tasks/')) {
      // The task scripts: the planned commands, the stages as events (each started one ends).
      assert.ok(Array.isArray(doc.planned), script);
      assert.ok(Array.isArray(doc.timings) && Array.isArray(doc.summary), script);
      const stages = evs.filter((e) => e.event === 'stage');
      assert.ok(stages.length > 0, `${script}: stage events`);
      const started = stages.filter((e) => e.state === 'started').map((e) => e.title);
      assert.equal(stages.filter((e) => e.state === 'completed').map((e) => e.title), started, script);
      for (const p of doc.planned as string[]) assert.ok(evs.some((e) => e.event === 'log' && e.message === `[dry-run] ${p}`), `${script}: planned ${p} logged`);
    }
  }
});

test('an error under --json: nothing on stdout, the last stderr line is {"event":"error"} with the exit code', () => {
  const r = zxScript('tasks/cache-warming.mjs', ['--config', cfg, '--json', '--recipe', 'nosuchrecipe']);
  assert.is(r.code, 2, r.stderr);
  assert.is(r.stdout, '');
  const evs = events(r.stderr);
  const last = evs[evs.length - 1]!;
  assert.is(last.event, 'error');
  assert.is(last.script, 'cache-warming');
  assert.is(last.exitCode, 2);
  assert.match(String(last.error), 'nosuchrecipe');
  const h = zxScript('hooks/reindex-on-deb.mjs', ['--config', cfg, '--json', join(base, 'nope.deb')]);
  assert.is(h.code, 2);
  assert.is(h.stdout, '');
  // A usage error without a hint of its own gets the CLI's (errorJson).
  assert.equal(events(h.stderr), [{ event: 'error', script: 'reindex-on-deb', error: `${join(base, 'nope.deb')}: no such file or directory`, hint: 'Run with --help for usage.', exitCode: 2 }]);
  const plain = zxScript('hooks/reindex-on-deb.mjs', ['--config', cfg, join(base, 'nope.deb')]);
  assert.is(plain.stderr, `nspawn-kit: reindex-on-deb: ${join(base, 'nope.deb')}: no such file or directory\n`);
});

test('the exit-code rule: a corrupt .deb (real, truncated) makes reindex-on-deb and nightly-refresh end with 1, the message prefixed', () => {
  const good = makeDeb(archives, { name: 'goodpkg' });
  const bad = makeDeb(archives, { name: 'brokenpkg' });
  truncateSync(bad, Math.floor(statSync(bad).size / 2));
  const r = zxScript('hooks/reindex-on-deb.mjs', ['--config', cfg, '--', good, bad]);
  assert.is(r.code, 1, r.stderr + r.stdout);
  const out = r.stdout.split('\n');
  assert.match(out[0]!, /^import: 1 imported, 0 already present, 0 unchanged, 0 conflict\(s\), 1 rejected; published bookworm \(\d+ packages\)$/);
  assert.ok(out.some((l) => l.startsWith(`  rejected: ${bad}: `)), r.stdout);
  const err = r.stderr.split('\n').filter((l) => l.startsWith('nspawn-kit: '));
  assert.equal(err, ['nspawn-kit: reindex-on-deb: 1 file(s) rejected, 0 conflict(s), 0 quarantined by publish (listed above); the rest is published']);
  // The good file is published all the same.
  assert.match(readFileSync(join(base, 'mirror/dists/bookworm/main/binary-amd64/Packages'), 'utf8'), 'Package: goodpkg');
  // --json: the document on stdout (exit code and the rejected file in it), the error event last on stderr.
  const j = zxScript('hooks/reindex-on-deb.mjs', ['--config', cfg, '--json', '--', bad]);
  assert.is(j.code, 1);
  const doc = JSON.parse(j.stdout) as { hook: string; exitCode: number; import: { rejected: { file: string }[] } };
  assert.is(doc.exitCode, 1);
  assert.equal(doc.import.rejected.map((x) => x.file), [bad]);
  const evs = events(j.stderr);
  assert.equal(evs[evs.length - 1], { event: 'error', script: 'reindex-on-deb', error: '1 file(s) rejected, 0 conflict(s), 0 quarantined by publish (listed above); the rest is published', hint: 'A rejected file is never indexed (its reason is above); replace or remove it. A conflict keeps the pool copy: rebuild the package with a new version.', exitCode: 1 });
  // nightly-refresh imports the archive with the corrupt file: a problem, exit 1 (as `mirror refresh`).
  const n = zxScript('hooks/nightly-refresh.mjs', ['--config', cfg, '--no-warm', '--json']);
  assert.is(n.code, 1, n.stderr);
  const report = JSON.parse(n.stdout) as { exitCode: number; problems: string[] };
  assert.is(report.exitCode, 1);
  assert.ok(report.problems.some((p) => p.startsWith(`rejected ${bad}: `)), n.stdout);
  const nlast = events(n.stderr).pop()!;
  assert.is(nlast.event, 'error');
  assert.is(nlast.exitCode, 1);
  const np = zxScript('hooks/nightly-refresh.mjs', ['--config', cfg, '--no-warm']);
  assert.is(np.code, 1);
  assert.ok(np.stderr.split('\n').includes(`nspawn-kit: nightly-refresh: the refresh ended with ${report.problems.length} problem(s) (listed above); the rest is published`), np.stderr);
  rmSync(bad);
  // Without the bad file: exit 0 again (the good one is already present).
  const ok = zxScript('hooks/reindex-on-deb.mjs', ['--config', cfg, '--', good]);
  assert.is(ok.code, 0, ok.stderr);
  assert.not.match(ok.stderr, 'nspawn-kit:');
  rmSync(good);
});

test('watch --json: every stdout line is a JSON event (a dropped .deb is imported and published), every stderr line a JSON event', async () => {
  const child = spawn(process.execPath, [...entry(), '--config', cfg, '--json', 'watch'], { cwd: base, env: cliEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const waitFor = async (what: string, done: () => boolean) => {
    const end = Date.now() + 90_000;
    while (!done()) {
      if (Date.now() > end || child.exitCode !== null) throw new Error(`${what}:\nstdout: ${stdout}\nstderr: ${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const dropped = join(archives, 'watchedpkg_1.0-1_amd64.deb');
  try {
    await waitFor('the watcher did not start', () => stdout.includes('"event":"daemon-ready"'));
    // Built elsewhere, renamed in: the file appears whole.
    const tmp = mkdtempSync(join(base, 'build-'));
    renameSync(makeDeb(tmp, { name: 'watchedpkg' }), dropped);
    await waitFor('the dropped .deb was not published', () => /"event":"run-end"/.test(stdout) && readFileSync(join(base, 'mirror/dists/bookworm/main/binary-amd64/Packages'), 'utf8').includes('Package: watchedpkg\n'));
  } finally {
    child.kill('SIGTERM');
  }
  assert.is(await exited, 0, stderr);
  const lines = stdout.split('\n');
  assert.is(lines.pop(), '');
  const evs = lines.map((l) => JSON.parse(l) as { event: string; time: string; path?: string });
  for (const e of evs) assert.match(e.time, /^\d{4}-\d\d-\d\dT/);
  const names = evs.map((e) => e.event);
  assert.is(names[names.length - 1], 'stopped');
  for (const n of ['daemon-ready', 'file', 'run-start', 'run-end', 'stopping']) assert.ok(names.includes(n), `${n} in ${names.join(' ')}`);
  assert.equal(evs.filter((e) => e.event === 'file').map((e) => e.path), [dropped]);
  for (const e of events(stderr)) assert.ok(['log', 'progress'].includes(e.event), JSON.stringify(e));
});

test.run();
