/**
 * The man page nspawn-kit(1), rendered from the commander program that
 * `--help` prints: every command, argument and option comes from commander's
 * own Help (the same visibility rules, terms and descriptions, defaults
 * included), so the two cannot drift; each command's examples come from the
 * table its --help prints them from (commands/help.ts). Pure: the package build writes it
 * (deb-assets.ts); test/unit/man-page.test.ts checks it against --help.
 */
import type { Command, Help } from 'commander';
import { commandExamples } from './commands/help.js';

export interface ManPageOptions {
  /** The date in the title line (YYYY-MM-DD); empty when none is given. */
  date?: string;
  /** Paragraphs after the program's description, in DESCRIPTION. */
  description?: string[];
  /** Extra sections after the commands, each a heading and plain paragraphs. */
  sections?: { heading: string; paragraphs: string[] }[];
}

/**
 * Text for roff: a backslash prints as itself, a hyphen as a hyphen-minus
 * (options are typed with it), and no line can start a request.
 */
export function roffText(text: string): string {
  const escaped = text.replace(/\\/g, '\\e').replace(/-/g, '\\-');
  return escaped
    .split('\n')
    .map((line) => (/^[.']/.test(line) ? `\\&${line}` : line))
    .join('\n');
}

/** The words after "nspawn-kit" that name a command, e.g. "mirror import". */
function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** Every visible command below `cmd`, depth first, in --help order ("help" included: --help lists it). */
export function visibleCommandTree(cmd: Command, help: Help = cmd.createHelp()): Command[] {
  return commandsWithParent(cmd, help).map(([sub]) => sub);
}

/** Each command with the one whose --help lists it (commander's implicit "help" command has no parent of its own). */
function commandsWithParent(cmd: Command, help: Help = cmd.createHelp()): [Command, Command][] {
  return help.visibleCommands(cmd).flatMap((sub): [Command, Command][] => [[sub, cmd], ...commandsWithParent(sub, sub.createHelp())]);
}

function optionList(cmd: Command, help: Help): string[] {
  return help.visibleOptions(cmd).flatMap((o) => ['.TP', `.B ${roffText(help.optionTerm(o))}`, roffText(help.optionDescription(o))]);
}

function argumentList(cmd: Command, help: Help): string[] {
  return help.visibleArguments(cmd).flatMap((a) => ['.TP', `.I ${roffText(help.argumentTerm(a))}`, roffText(help.argumentDescription(a))]);
}

/** A command's examples: each command line in bold, what it does below it. */
function exampleList(cmd: Command): string[] {
  return commandExamples(cmd).flatMap(([line, what]) => ['.TP', `.B ${roffText(line)}`, roffText(what)]);
}

function commandSection(root: Command, cmd: Command, parent: Command): string[] {
  const help = cmd.createHelp();
  const own = help.commandUsage(cmd);
  // The implicit help command's usage lacks the words of the command it belongs to.
  const full = cmd.parent ? own : `${commandPath(parent)} ${own}`.trim();
  const usage = full.replace(new RegExp(`^${root.name()} `), '');
  const lines = ['.SS', `.B "${root.name()} ${roffText(usage).replace(/"/g, '""')}"`, roffText(help.commandDescription(cmd) || cmd.summary())];
  const args = argumentList(cmd, help);
  if (args.length) lines.push('.PP', 'Arguments:', '.RS', ...args, '.RE');
  const opts = optionList(cmd, help);
  if (opts.length) lines.push('.PP', 'Options:', '.RS', ...opts, '.RE');
  const examples = exampleList(cmd);
  if (examples.length) lines.push('.PP', 'Examples:', '.RS', ...examples, '.RE');
  const subs = help.visibleCommands(cmd).map((s) => `${commandPath(cmd)} ${help.subcommandTerm(s)}`);
  if (subs.length) lines.push('.PP', `Commands: ${roffText(subs.join(', '))}.`);
  return lines;
}

export function renderManPage(program: Command, opts: ManPageOptions = {}): string {
  const help = program.createHelp();
  const name = program.name();
  const version = program.version() ?? '';
  const title = name.toUpperCase();
  const lines = [
    `.\\" Generated from the commander program of ${name} ${version} (src/man.ts); do not edit.`,
    `.TH ${roffText(title)} 1 "${opts.date ?? ''}" "${roffText(`${name} ${version}`.trim())}" "User Commands"`,
    '.SH NAME',
    `${roffText(name)} \\- ${roffText(program.description())}`,
    '.SH SYNOPSIS',
    `.B ${roffText(name)}`,
    roffText(help.commandUsage(program).replace(new RegExp(`^${name} `), '')),
    '.SH DESCRIPTION',
    roffText(help.commandDescription(program)),
    ...(opts.description ?? []).flatMap((p) => ['.PP', roffText(p)]),
    '.SH OPTIONS',
    'Global options, given before the command:',
    ...optionList(program, help),
    ...(commandExamples(program).length ? ['.SH EXAMPLES', ...exampleList(program)] : []),
    '.SH COMMANDS',
    ...commandsWithParent(program, help).flatMap(([cmd, parent]) => commandSection(program, cmd, parent)),
  ];
  for (const section of opts.sections ?? []) {
    lines.push(`.SH ${roffText(section.heading.toUpperCase())}`);
    section.paragraphs.forEach((p, i) => lines.push(...(i ? ['.PP'] : []), roffText(p)));
  }
  return `${lines.join('\n')}\n`;
}
