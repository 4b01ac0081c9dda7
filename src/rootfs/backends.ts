/**
 * Bootstrap backends as data: the exact argv of debootstrap and mmdebstrap
 * for a recipe and a local signed mirror (the parser of their progress lines:
 * install-progress.ts).
 *
 * Recipe packages are NOT passed as --include: they are installed afterwards
 * with apt-get inside the new root (create.ts), so a missing package fails
 * with apt's own "Unable to locate package X" and both backends behave alike.
 */
import type { Command } from '../shell.js';
import type { Recipe } from '../config/types.js';
import { ConfigError } from '../errors.js';
import { CODENAME } from '../config/formats.js';

/** On bookworm mmdebstrap needs this hook to produce a merged-/usr system (DESIGN.md). */
export const MMDEBSTRAP_MERGED_USR_HOOK = '/usr/share/mmdebstrap/hooks/merged-usr';

export interface BootstrapSpec {
  backend: Recipe['bootstrap'];
  codename: string;
  variant: Recipe['variant'];
  components: string[];
  architecture: string;
  /** Empty directory the root file system is created in. */
  target: string;
  /** mirror.root: a local signed repository. */
  mirrorRoot: string;
  /** Binary keyring (`gpg --export`) that signs the mirror's InRelease. */
  keyring: string;
}

export function bootstrapSpec(
  recipe: Pick<Recipe, 'bootstrap' | 'codename' | 'variant' | 'components'>,
  opts: { architecture: string; target: string; mirrorRoot: string; keyring: string },
): BootstrapSpec {
  return {
    backend: recipe.bootstrap,
    codename: recipe.codename,
    variant: recipe.variant,
    components: recipe.components,
    ...opts,
  };
}

export function debootstrapCommand(spec: BootstrapSpec): Command {
  const args: string[] = [];
  // debootstrap's own default variant has no flag at all.
  if (spec.variant !== 'default') args.push(`--variant=${spec.variant}`);
  args.push(
    `--keyring=${spec.keyring}`,
    `--components=${spec.components.join(',')}`,
    `--arch=${spec.architecture}`,
    // debootstrap has no "--" separator: the positional arguments are checked
    // to be absolute paths / URLs by the caller (see assertPositional).
    spec.codename,
    spec.target,
    `file://${spec.mirrorRoot}`,
  );
  return ['debootstrap', args];
}

/** mmdebstrap's variant names differ from debootstrap's. */
function mmdebstrapVariant(variant: Recipe['variant']): string {
  switch (variant) {
    case 'minbase':
    case 'buildd':
      return variant;
    case 'default':
      // mmdebstrap's "debootstrap" variant is debootstrap's default set.
      return 'debootstrap';
    case 'fakechroot':
      throw new ConfigError(
        ['variant: "fakechroot" is a debootstrap variant; mmdebstrap has a fakechroot mode, not a variant'],
        'Use "minbase" with bootstrap "mmdebstrap", or bootstrap "debootstrap" for fakechroot.',
      );
  }
}

export function mmdebstrapCommand(spec: BootstrapSpec): Command {
  return [
    'mmdebstrap',
    [
      `--variant=${mmdebstrapVariant(spec.variant)}`,
      '--mode=root',
      `--keyring=${spec.keyring}`,
      `--components=${spec.components.join(',')}`,
      `--architectures=${spec.architecture}`,
      `--hook-dir=${MMDEBSTRAP_MERGED_USR_HOOK}`,
      // mmdebstrap picks "required" by the Priority in the mirror's Packages; a mirror indexed
      // from the .debs has apt's control priority (important, not the archive's override
      // "required"), so minbase would come without apt, which installs the recipe packages.
      '--include=apt',
      spec.codename,
      spec.target,
      // file:// would make mmdebstrap expect the mirror inside the chroot; copy:// copies from the host.
      `copy://${spec.mirrorRoot}`,
    ],
  ];
}

/** Positional arguments cannot be preceded by "--": make sure none can be read as an option. */
function assertPositional(spec: BootstrapSpec): void {
  for (const [what, value] of [
    ['target', spec.target],
    ['mirror root', spec.mirrorRoot],
    ['keyring', spec.keyring],
  ] as const) {
    if (!value.startsWith('/')) throw new ConfigError([`${what}: expected an absolute path, got ${JSON.stringify(value)}`]);
  }
  if (!CODENAME.test(spec.codename)) throw new ConfigError([`codename: ${JSON.stringify(spec.codename)} is not a codename`]);
}

export function bootstrapCommand(spec: BootstrapSpec): Command {
  assertPositional(spec);
  return spec.backend === 'mmdebstrap' ? mmdebstrapCommand(spec) : debootstrapCommand(spec);
}

// ---- progress: rootfs/install-progress.ts ----

export { emptyProgress, formatProgress, parseProgressLine, progressEvent, progressLines, progressTotal, finalEvents, type BootstrapProgress } from './install-progress.js';
