/**
 * nspawn-kit(1) is rendered from the program that --help prints (src/man.ts):
 * every command and every option of every --help screen is in it, with its
 * description; an option added to the program appears in the page without
 * touching man.ts; text cannot start a roff request. The unit the package
 * ships is install-units' renderer output for the default configuration.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Command } from 'commander';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig, packagedUnit, packageManPage, PACKAGE_PATHS, writeDebAssets } from '../../src/deb-assets.js';
import { Shell } from '../../src/shell.js';
import { renderManPage, roffText, visibleCommandTree } from '../../src/man.js';
import { buildProgram } from '../../src/program.js';
import { renderUnits } from '../../src/triggers/units.js';

/** The man source as a reader sees the words: roff's escapes for "-" and "\" undone. */
function plain(roff: string): string {
  return roff.replace(/\\-/g, '-').replace(/\\e/g, '\\').replace(/\\&/g, '');
}

/** What --help prints for a command, commander's own text. */
function helpText(cmd: Command): string {
  return cmd.helpInformation();
}

/** The entries of one section ("Options:", "Commands:", "Arguments:") of a --help text: the term before the description. */
function helpEntries(help: string, section: string): string[] {
  const lines = help.split('\n');
  const start = lines.indexOf(`${section}:`);
  if (start < 0) return [];
  const entries: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (!line.startsWith(' ')) break;
    const term = /^ {2}(\S.*?)(?: {2,}|$)/.exec(line)?.[1];
    if (term) entries.push(term);
  }
  return entries;
}

/** Words of a text, whitespace-normalised: roff and commander wrap lines differently. */
function words(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

const program = buildProgram();
const page = renderManPage(program);
const pageWords = words(plain(page));

test('every command of every --help screen has a section with its usage, and every option and argument of its screen', () => {
  const commands = [program, ...visibleCommandTree(program)];
  assert.ok(commands.length > 25, `commands: ${commands.length}`);
  let checked = 0;
  for (const cmd of commands) {
    const help = helpText(cmd);
    const usage = /^Usage: (.*)$/m.exec(help)?.[1];
    assert.ok(usage, `usage line of ${cmd.name()}`);
    assert.ok(pageWords.includes(words(usage)), `man page lacks the usage "${usage}"`);
    for (const section of ['Options', 'Arguments']) {
      for (const term of helpEntries(help, section)) {
        // The term as a .B/.I line of its own, so "--no-wait" cannot be found inside "--no-waiting".
        assert.ok(plain(page).split('\n').some((l) => /^\.[BI] /.test(l) && l.slice(3) === term), `man page lacks ${section} "${term}" of "${usage}"`);
        checked += 1;
      }
    }
    for (const term of helpEntries(help, 'Commands')) {
      const name = term.split(' ')[0]!;
      const path = words(`${usage.replace(/ \[options\].*$| \[command\].*$/, '')} ${name}`);
      assert.ok(pageWords.includes(path), `man page lacks the command "${path}"`);
      checked += 1;
    }
  }
  assert.ok(checked > 60, `entries checked: ${checked}`);
});

test('every description --help prints is in the man page', () => {
  for (const cmd of [program, ...visibleCommandTree(program)]) {
    const h = cmd.createHelp();
    for (const o of h.visibleOptions(cmd)) assert.ok(pageWords.includes(words(h.optionDescription(o))), `${cmd.name()} ${o.flags}: description missing`);
    assert.ok(pageWords.includes(words(h.commandDescription(cmd))), `${cmd.name()}: description missing`);
  }
});

test('the page is built from the program: a new option and a new command appear without touching man.ts', () => {
  const changed = buildProgram();
  const mirror = changed.commands.find((c) => c.name() === 'mirror')!;
  mirror.commands.find((c) => c.name() === 'gc')!.option('--older-than <days>', 'only publications older than this');
  changed.command('selftest').description('a command added for this test').option('--deep', 'check everything');
  const text = plain(renderManPage(changed));
  assert.ok(text.split('\n').includes('.B --older-than <days>'));
  assert.ok(words(text).includes('only publications older than this'));
  assert.ok(text.includes('.B "nspawn-kit selftest [options]"'));
  assert.ok(text.includes('.B --deep'));
  assert.not.ok(plain(page).includes('--older-than'));
});

test('the title line names the program, its version and section 1; the date is the one given', () => {
  const version = program.version()!;
  const dated = renderManPage(program, { date: '2026-11-30' });
  assert.is(dated.split('\n')[1], `.TH NSPAWN\\-KIT 1 "2026-11-30" "nspawn\\-kit ${version.replace(/-/g, '\\-')}" "User Commands"`);
  assert.match(dated, /^\.SH NAME\nnspawn\\-kit \\- /m);
});

test('roffText: a line cannot start a request, backslashes print as themselves, hyphens are hyphen-minus', () => {
  assert.is(roffText(".SH EVIL\n'br"), "\\&.SH EVIL\n\\&'br");
  assert.is(roffText('a\\fBb'), 'a\\efBb');
  assert.is(roffText('--dry-run'), '\\-\\-dry\\-run');
  // A description starting with a dot, through the whole renderer: no request line is made of it.
  const p = buildProgram();
  p.command('dotty').description('.so /etc/shadow');
  const text = renderManPage(p);
  assert.not.ok(text.split('\n').includes('.so /etc/shadow'));
  assert.ok(text.split('\n').includes('\\&.so /etc/shadow'));
});

test('the package man page adds exit status, files (from the default configuration) and see also', () => {
  const text = plain(packageManPage());
  const config = defaultConfig();
  for (const heading of ['.SH EXIT STATUS', '.SH FILES', '.SH SEE ALSO']) assert.ok(text.split('\n').includes(heading), heading);
  // DESCRIPTION: the program's own line, then the package's paragraphs, before the options.
  const lines = text.split('\n');
  const description = lines.slice(lines.indexOf('.SH DESCRIPTION') + 1, lines.indexOf('.SH OPTIONS'));
  assert.is(description[0], buildProgram().description());
  assert.is(description.filter((l) => l === '.PP').length, 2);
  assert.match(description.join(' '), /\/usr\/share\/doc\/nspawn-kit\/README\.md\.gz/);
  assert.ok(text.includes(`${config.stateDir}: the default stateDir`));
  assert.ok(text.includes(`${config.mirror.root}: the default mirror.root`));
  assert.ok(text.includes('/usr/share/nspawn-kit/recipes: the shipped recipes.'));
});

test('the shipped unit is the renderer output for the default configuration and the package paths, under its own header', () => {
  const config = defaultConfig();
  assert.is(config.stateDir, '/var/lib/nspawn-kit');
  assert.is(config.file, undefined);
  const unit = packagedUnit();
  const rendered = renderUnits(config, PACKAGE_PATHS)[0]!.text;
  const body = rendered.split('\n');
  const firstSetting = body.findIndex((l) => !l.startsWith('#'));
  assert.ok(unit.endsWith(body.slice(firstSetting).join('\n')));
  assert.match(unit, /^# Shipped by the nspawn-kit package, disabled/);
  assert.ok(unit.split('\n').includes('ExecStart=/usr/bin/node /usr/share/nspawn-kit/dist/cli.js daemon'));
  assert.not.match(unit, /Written by `nspawn-kit install-units`/);
});

test('writeDebAssets writes the page and the unit, 0644, through the Shell (a dry run writes nothing and plans both)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nk-man-'));
  try {
    const planned: string[] = [];
    await writeDebAssets(new Shell({ dryRun: true, log: (l) => planned.push(l) }), join(dir, 'dry'));
    assert.not.ok(existsSync(join(dir, 'dry')));
    assert.equal(planned.filter((l) => l.startsWith('[dry-run] write ')).map((l) => l.split(' ')[2]), [join(dir, 'dry', 'nspawn-kit.1'), join(dir, 'dry', 'nspawn-kit-daemon.service')]);
    const written = await writeDebAssets(new Shell({ log: () => undefined }), join(dir, 'out'));
    assert.equal(written, [join(dir, 'out', 'nspawn-kit.1'), join(dir, 'out', 'nspawn-kit-daemon.service')]);
    assert.is(readFileSync(written[0]!, 'utf8'), packageManPage());
    assert.is(readFileSync(written[1]!, 'utf8'), packagedUnit());
    for (const f of written) assert.is(statSync(f).mode & 0o777, 0o644);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
