/**
 * The text after each command's options in --help: two or three examples and
 * the exit status. One table, read by --help (addCommandHelp) and by the man
 * page (src/man.ts), so the two say the same.
 */
import type { Command } from 'commander';

/** Examples per command path ("mirror import"), each a command line and what it does. */
const EXAMPLES: Record<string, [string, string][]> = {
  '': [
    ['nspawn-kit doctor', 'check the host tools first'],
    ['nspawn-kit mirror warm bookworm-minimal && nspawn-kit create bookworm-minimal', 'fill the mirror, then build a machine from it'],
    ['nspawn-kit --json status', 'any command\'s result as one JSON document on stdout'],
  ],
  config: [
    ['nspawn-kit config', 'the resolved configuration, or every problem in it'],
    ['nspawn-kit config --recipe bookworm-minimal', 'one recipe, resolved'],
    ['nspawn-kit -c ./nspawnrc.json config --recipes', 'every recipe of another configuration file'],
  ],
  doctor: [
    ['nspawn-kit doctor', 'which host tools are found, and what needs the missing ones'],
    ['nspawn-kit doctor --fix --required-only', 'install the missing required tools with apt-get'],
    ['nspawn-kit --json doctor', 'the report as JSON'],
  ],
  mirror: [
    ['nspawn-kit mirror import', 'copy new .debs from the archive directories into the pool'],
    ['nspawn-kit mirror warm bookworm-minimal', 'download what a recipe needs, then publish'],
  ],
  'mirror import': [
    ['nspawn-kit mirror import', 'every directory of mirror.archives'],
    ['nspawn-kit mirror import --from /srv/debs --codename bookworm', 'one directory, filed under bookworm'],
    ['nspawn-kit --json mirror import', 'the report as JSON (imported, rejected, conflicts)'],
  ],
  'mirror publish': [
    ['nspawn-kit mirror publish', 'index, sign and publish every suite'],
    ['nspawn-kit mirror publish --codename bookworm', 'only bookworm'],
  ],
  'mirror warm': [
    ['nspawn-kit -n mirror warm bookworm-minimal', 'how many .debs it would download (needs the network)'],
    ['nspawn-kit mirror warm bookworm-minimal trixie-minimal', 'two recipes, one publication'],
  ],
  'mirror refresh': [
    ['nspawn-kit mirror refresh', 'the nightly job, now'],
    ['nspawn-kit --json mirror refresh --no-wait', 'as JSON; fail at once if the mirror is busy'],
  ],
  'mirror gc': [
    ['nspawn-kit -n mirror gc', 'what would be removed'],
    ['nspawn-kit mirror gc', 'drop superseded versions (pool files after the grace period)'],
  ],
  'mirror verify': [
    ['nspawn-kit mirror verify', 'check signatures, expiry and every pool file'],
    ['nspawn-kit --json mirror verify', 'the problems and warnings as JSON'],
  ],
  'mirror serve': [
    ['nspawn-kit mirror serve', 'http://127.0.0.1:8080/ until Ctrl-C'],
    ['nspawn-kit --json mirror serve --port 0', 'a free port; {"event":"listening","url":…} on stdout'],
  ],
  status: [
    ['nspawn-kit status', 'per suite: packages, size, last publish, key, Valid-Until'],
    ['nspawn-kit --json status', 'the same as JSON'],
  ],
  create: [
    ['nspawn-kit -n create bookworm-minimal', 'print every command it would run'],
    ['nspawn-kit create bookworm-minimal --name web --provision', 'build "web" and run its first boot'],
  ],
  provision: [
    ['nspawn-kit provision web', 'boot web once for its first-boot script'],
    ['nspawn-kit provision web --timeout 300', 'give up after 5 minutes'],
  ],
  boot: [
    ['nspawn-kit boot web', 'start web (machinectl) or boot it in the foreground'],
    ['nspawn-kit -n boot web', 'print the command'],
  ],
  run: [
    ['nspawn-kit run web -- apt-get --version', 'one command inside web (not booted)'],
    ['nspawn-kit --json run web -- cat /etc/os-release', '{"exitCode","stdout","stderr"} on stdout'],
  ],
  list: [
    ['nspawn-kit list', 'every machine: recipe, publication, updates, size, first boot'],
    ['nspawn-kit --json list', 'the same as JSON, with the updates by package'],
  ],
  upgrade: [
    ['nspawn-kit -n upgrade web', 'the upgrade plan of web'],
    ['nspawn-kit upgrade --all', 'every machine; the others go on when one fails'],
  ],
  rm: [
    ['nspawn-kit -n rm web', 'what would be removed'],
    ['nspawn-kit rm web', 'remove web, its .nspawn file and leftover mounts'],
  ],
  migrate: [
    ['nspawn-kit -n migrate web', 'what moving web to the host-mounted layout would do'],
    ['nspawn-kit migrate web', 'move it'],
  ],
  daemon: [
    ['nspawn-kit daemon', 'watch the archives and run the nightly refresh, until SIGTERM'],
    ['nspawn-kit --json daemon', 'one JSON event per line on stdout'],
  ],
  watch: [
    ['nspawn-kit watch', 'import and publish new .debs as they land'],
    ['nspawn-kit --json -n watch', 'what it would do, as JSON event lines'],
  ],
  schedule: [
    ['nspawn-kit schedule', 'run `mirror refresh` at schedule.refresh'],
    ['nspawn-kit --json schedule', 'one JSON event per line on stdout'],
  ],
  'install-units': [
    ['nspawn-kit -n install-units', 'the unit it would write and the commands it would run'],
    ['nspawn-kit install-units --no-enable', 'write the unit, start nothing'],
  ],
};

/** Exit codes of every command; `run` and `provision` pass on the machine's. */
export const EXIT_STATUS: [string, string][] = [
  ['0', 'success'],
  ['1', 'failure (a failed command or check, a rejected file)'],
  ['2', 'usage or configuration error'],
  ['129, 130, 143', 'interrupted by SIGHUP, SIGINT (Ctrl-C) or SIGTERM (128 + the signal number); every child process is stopped first'],
];

const PASSES_ON: Record<string, string> = {
  run: 'otherwise the exit status of the command inside the machine',
  provision: 'otherwise the exit status of the first-boot script',
  boot: 'otherwise the exit status of systemd-nspawn in the foreground',
};

/** The words after the program's name that name a command, e.g. "mirror import". */
export function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

export function commandExamples(cmd: Command): [string, string][] {
  return EXAMPLES[commandPath(cmd)] ?? [];
}

/** The exit status lines of one command (a note for the commands that pass on a machine's). */
export function commandExitStatus(cmd: Command): [string, string][] {
  const note = PASSES_ON[commandPath(cmd)];
  return note ? [...EXIT_STATUS, ['other', note]] : EXIT_STATUS;
}

function table(rows: [string, string][]): string[] {
  const width = Math.max(...rows.map(([a]) => a.length));
  return rows.map(([a, b]) => `  ${a.padEnd(width)}  ${b}`);
}

/** The text --help prints after a command's options. */
export function helpAfter(cmd: Command): string {
  const examples = commandExamples(cmd);
  const lines = examples.length ? ['', 'Examples:', ...examples.flatMap(([line, what]) => [`  $ ${line}`, `      ${what}`])] : [];
  lines.push('', 'Exit status:', ...table(commandExitStatus(cmd)));
  return lines.join('\n');
}

/** Adds the examples and exit status to the --help of the program and of every command below it. */
export function addCommandHelp(program: Command): void {
  const walk = (cmd: Command): void => {
    cmd.addHelpText('after', () => helpAfter(cmd));
    cmd.commands.forEach(walk);
  };
  walk(program);
}

/** Commands without examples (a test lists them: every command has some). */
export function commandsWithoutExamples(program: Command): string[] {
  const missing: string[] = [];
  const walk = (cmd: Command): void => {
    for (const sub of cmd.commands) {
      if (!EXAMPLES[commandPath(sub)]) missing.push(commandPath(sub));
      walk(sub);
    }
  };
  walk(program);
  return missing;
}
