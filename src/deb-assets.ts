/**
 * What the Debian package build generates from the built program (debian/rules
 * runs `node dist/deb-assets.js DIR`): the man page nspawn-kit(1) from the
 * commander program (man.ts), and nspawn-kit-daemon.service from the renderer
 * `install-units` uses (triggers/units.ts), for the default configuration and
 * the package's paths. One source each: nothing here restates their content.
 */
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONFIG_DIR_ENV, LOCAL_RECIPES, SEARCH_PLACES, SYSTEM_CONFIG_DIR } from './config/config-file.js';
import { ConfigSchema } from './config/schema.js';
import type { Config, HostFacts } from './config/types.js';
import { writeLines } from './escape.js';
import { EXIT_STATUS } from './commands/help.js';
import { renderManPage } from './man.js';
import { buildProgram } from './program.js';
import { Shell } from './shell.js';
import { DAEMON_UNIT, renderUnits, type UnitPaths } from './triggers/units.js';

/** Where the package puts node and the CLI (debian/rules, debian/nspawn-kit.links). */
export const PACKAGE_PATHS: UnitPaths = { nodePath: '/usr/bin/node', cliPath: '/usr/share/nspawn-kit/dist/cli.js' };
export const PACKAGE_SHARE = '/usr/share/nspawn-kit';

/**
 * The configuration of a host with no configuration file: the schema's
 * defaults. Host facts do not reach the unit (the archives default is only
 * written into it for the apt-move importer, which is not the default).
 */
export function defaultConfig(): Config {
  const { $schema: _schema, mirror, recipeDirs: _dirs, recipes, ...rest } = ConfigSchema.parse({});
  const host: HostFacts = { codename: 'unknown', architecture: 'all', systemdPid1: true, aptSources: {} };
  return { ...rest, file: undefined, mirror: { ...mirror, archives: mirror.archives ?? [], architectures: mirror.architectures ?? [] }, recipeDirs: [], recipes, host };
}

/** The shipped unit: the renderer's text under a header saying what it is and how to get one for another configuration. */
export function packagedUnit(config: Config = defaultConfig()): string {
  const unit = renderUnits(config, PACKAGE_PATHS).find((u) => u.name === DAEMON_UNIT);
  if (!unit) throw new Error(`renderUnits gave no ${DAEMON_UNIT}`);
  const body = unit.text.split('\n');
  const first = body.findIndex((line) => !line.startsWith('#'));
  return [
    `# Shipped by the nspawn-kit package, disabled: rendered at build time for the default`,
    `# configuration (stateDir ${config.stateDir}, mirror.root ${config.mirror.root}).`,
    '# `nspawn-kit install-units` writes one for the actual configuration into',
    '# /etc/systemd/system, which takes precedence over this file, and enables it.',
    ...body.slice(first),
  ].join('\n');
}

/** The date of the build for the man page: SOURCE_DATE_EPOCH (dpkg-buildpackage sets it from the changelog), else none. */
function buildDate(): string {
  const epoch = Number(process.env.SOURCE_DATE_EPOCH);
  return Number.isFinite(epoch) && epoch > 0 ? new Date(epoch * 1000).toISOString().slice(0, 10) : '';
}

export function packageManPage(): string {
  const config = defaultConfig();
  return renderManPage(buildProgram(), {
    date: buildDate(),
    description: [
      'The mirror is a standard Debian repository signed with its own key, fed from apt archive directories and the apt caches of the machines; machines are bootstrapped from it with debootstrap and run with systemd-nspawn. Commands that change the system need root; --dry-run prints what they would do.',
      'The full documentation (configuration, recipes, the mirror, machines, the threat model) is /usr/share/doc/nspawn-kit/README.md.gz.',
    ],
    sections: [
      {
        heading: 'exit status',
        // The table every --help prints (commands/help.ts).
        paragraphs: [...EXIT_STATUS.map(([code, what]) => `${code}: ${what}.`), '`run`, `provision` and a foreground `boot` pass on the exit status of the command, first-boot script or systemd-nspawn.'],
      },
      {
        heading: 'files',
        paragraphs: [
          `${SYSTEM_CONFIG_DIR}/${SEARCH_PLACES[0]}: the system configuration (a conffile; ${SEARCH_PLACES.slice(1).join(' or ')} instead for YAML); --config FILE replaces it. As root, a configuration, recipe or key file that a non-root user could write, or that sits in a directory one could write, is refused.`,
          `${SYSTEM_CONFIG_DIR}/${LOCAL_RECIPES}: local recipes; one replaces the shipped recipe of the same name.`,
          `${PACKAGE_SHARE}/recipes: the shipped recipes.`,
          `${config.stateDir}: the default stateDir (signing key, locks, caches, records).`,
          `${config.mirror.root}: the default mirror.root, the published apt repository.`,
          `${config.machines.unitDir}/${DAEMON_UNIT}: the daemon unit written by install-units for the actual configuration; the package ships a disabled one for the default configuration.`,
          '/usr/share/doc/nspawn-kit/README.md.gz: the full documentation (configuration, recipes, the mirror, machines, threat model).',
        ],
      },
      {
        heading: 'environment',
        paragraphs: [`${CONFIG_DIR_ENV}: an absolute directory used instead of ${SYSTEM_CONFIG_DIR} (its configuration file and ${LOCAL_RECIPES}).`],
      },
      { heading: 'see also', paragraphs: ['systemd-nspawn(1), machinectl(1), debootstrap(8), apt-ftparchive(1), gpg(1), systemd.exec(5)'] },
    ],
  });
}

/** Writes nspawn-kit.1 and the unit into `dir` (through the Shell, like every write). Returns the files written. */
export async function writeDebAssets(sh: Shell, dir: string): Promise<string[]> {
  await sh.mkdir(dir);
  const files: [string, string][] = [
    [join(dir, 'nspawn-kit.1'), packageManPage()],
    [join(dir, DAEMON_UNIT), packagedUnit()],
  ];
  for (const [path, text] of files) await sh.writeFile(path, text, 0o644);
  return files.map(([path]) => path);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2];
  if (!dir) {
    writeLines(process.stderr, 'usage: node dist/deb-assets.js DIR  (writes nspawn-kit.1 and the daemon unit into DIR)');
    process.exitCode = 2;
  } else {
    writeLines(process.stdout, (await writeDebAssets(new Shell(), resolve(dir))).map((f) => `wrote ${f}`));
  }
}
