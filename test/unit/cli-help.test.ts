/**
 * Every command's --help (issue 15): the global options that apply to it,
 * two or three examples that name the command itself, and the exit status;
 * the man page carries the same examples (src/commands/help.ts is the one table).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Command } from 'commander';
import { commandPath, commandsWithoutExamples } from '../../src/commands/help.js';
import { renderManPage, roffText } from '../../src/man.js';
import { buildProgram } from '../../src/program.js';

/** What `--help` prints for a command, the text after its options included (commander's afterHelp). */
function helpOf(cmd: Command): string {
  let out = '';
  cmd.configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (out += s) });
  cmd.outputHelp();
  return out;
}

function all(cmd: Command): Command[] {
  return [cmd, ...cmd.commands.flatMap(all)];
}

const program = buildProgram();
const commands = all(program);

test('every command has examples in the table', () => {
  assert.ok(commands.length >= 24, String(commands.length));
  assert.equal(commandsWithoutExamples(program), []);
});

test('every --help: global options, 2 or 3 examples of that very command, the exit status with 0, 1, 2, 130 and 143', () => {
  for (const cmd of commands) {
    const help = helpOf(cmd);
    const path = commandPath(cmd);
    const sections = help.split('\n').filter((l) => /^\S.*:$/.test(l));
    if (cmd !== program) {
      assert.ok(sections.includes('Global Options:'), `${path}: ${sections.join(' ')}`);
      for (const flag of ['--config <file>', '--dry-run', '--verbose', '--json']) assert.ok(help.includes(flag), `${path}: global ${flag}`);
    }
    assert.ok(sections.includes('Examples:'), `${path}:\n${help}`);
    const examples = help.split('\n').filter((l) => l.startsWith('  $ '));
    assert.ok(examples.length >= 2 && examples.length <= 3, `${path}: ${examples.length} examples`);
    // An example of `mirror import` runs `mirror import` (global options may come first).
    const words = path ? ` ${path}` : '';
    for (const e of examples) assert.match(e, new RegExp(`^  \\$ nspawn-kit(?: -\\S+(?: \\S+\\.json)?)*${words.replace(/ /g, ' ')}(?: |$)`), `${path}: ${e}`);
    const exit = help.slice(help.indexOf('Exit status:'));
    assert.ok(sections.includes('Exit status:'), `${path}`);
    for (const code of [/^ {2}0 +success$/m, /^ {2}1 +failure/m, /^ {2}2 +usage or configuration error$/m, /^ {2}129, 130, 143 +interrupted by SIGHUP, SIGINT \(Ctrl-C\) or SIGTERM/m]) {
      assert.match(exit, code, `${path}:\n${exit}`);
    }
  }
});

test('run, provision and boot say that they pass on the exit status of what ran inside', () => {
  for (const name of ['run', 'provision', 'boot']) {
    const cmd = program.commands.find((c) => c.name() === name)!;
    assert.match(helpOf(cmd), /^ {2}other +otherwise the exit status of /m);
  }
});

test('the man page has every command\'s examples, and the program\'s in EXAMPLES', () => {
  const page = renderManPage(program);
  const lines = page.split('\n');
  assert.ok(lines.includes('.SH EXAMPLES'));
  for (const cmd of commands) {
    for (const e of helpOf(cmd).split('\n').filter((l) => l.startsWith('  $ '))) {
      assert.ok(lines.includes(`.B ${roffText(e.slice(4))}`), `man page lacks the example "${e.slice(4)}"`);
    }
  }
});

test.run();
