/**
 * The usage texts of the task scripts and hooks (`--help`): what the script
 * does, its real options with their defaults, the exit codes, and how to run
 * it from a checkout and installed from the .deb. The first line names the
 * script as it was actually started (process.argv), not a guessed command.
 */
import { resolve } from 'node:path';

/** Where the .deb installs the scripts. */
export const INSTALLED_DIR = '/usr/share/nspawn-kit';

/** Options every task script and hook takes. */
export const COMMON_OPTIONS: [string, string][] = [
  ['--config FILE, -c FILE', 'configuration file (default: /etc/nspawn-kit/config.json, or config.json in $NSPAWN_KIT_CONFIG_DIR)'],
  ['--dry-run, -n', 'print every command that would change something; change nothing'],
  ['--verbose, -v', 'print every command as it runs'],
  ['--json', 'stdout: one JSON document (the summary); stderr: one JSON event per line ({"event":"stage"|"log"|"progress"|"error",…})'],
  ['--help, -h', 'this text'],
];

export interface UsageSpec {
  /** Path in the package: "tasks/index.mjs", "hooks/reindex-on-deb.mjs". */
  file: string;
  /** Arguments after the options in the synopsis, e.g. "[FILE|DIR...]". */
  args?: string;
  /** What it does, one or more lines. */
  about: string;
  /** Its own options, with their defaults stated. */
  options?: [string, string][];
  /** Exit code 1 means (default: "a stage failed"). */
  failure?: string;
}

/** How this process was started: the script's path as given, or `npx zx PATH` when zx ran it. */
export function invokedAs(file: string, argv: readonly string[] = process.argv): string {
  const at = argv.findIndex((a, i) => i >= 1 && resolve(a).endsWith(`/${file}`));
  if (at === 1) return argv[1]!;
  return at > 1 ? `npx zx ${argv[at]}` : file;
}

export function usageText(u: UsageSpec, argv: readonly string[] = process.argv): string {
  const options = [...(u.options ?? []), ...COMMON_OPTIONS];
  const width = Math.max(...options.map(([o]) => o.length));
  const synopsis = `[OPTIONS]${u.args ? ` ${u.args}` : ''}`;
  return [
    `usage: ${invokedAs(u.file, argv)} ${synopsis}`,
    ...u.about.split('\n').map((l) => `  ${l}`),
    '',
    'options:',
    ...options.map(([o, d]) => `  ${o.padEnd(width)}  ${d}`),
    '',
    `exit codes: 0 done; 1 ${u.failure ?? 'a stage failed'}; 2 usage or configuration error; 129/130/143 interrupted (SIGHUP/SIGINT/SIGTERM)`,
    'errors: one line on stderr starting with "nspawn-kit: ", or {"event":"error","error","hint","exitCode"} under --json',
    '',
    'run it:',
    `  from a checkout:    npx zx ${u.file} ${synopsis}`,
    `  installed (.deb):   ${INSTALLED_DIR}/${u.file} ${synopsis}   (as root)`,
  ].join('\n');
}
