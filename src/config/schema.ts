/**
 * The one schema: TypeScript types, runtime validation, defaults, help text
 * (descriptions) and the generated nspawnrc.schema.json all come from here.
 */
import { z } from 'zod';
import * as fmt from './formats.js';
import { cronExpression, timeZone } from './schedule-format.js';

/** A string that passes a format check of formats.ts (the message says why not). */
function checked(check: fmt.Check, base: z.ZodString = z.string()) {
  return base.superRefine((v, ctx) => {
    const why = check(v);
    if (why) ctx.addIssue({ code: 'custom', message: why });
  });
}

/** Recipe and machine names: safe as a path component and as an argv word. */
export const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const safeName = z
  .string()
  .regex(SAFE_NAME, { message: 'expected a safe name: letters, digits, ".", "_", "-", not starting with "-" or "."' })
  .refine((s) => !s.includes('..'), { message: 'expected a safe name without ".."' });

const codename = z.string().regex(fmt.CODENAME, { message: 'expected a codename like "bookworm"' });
const absPath = checked(fmt.hostPath, z.string().regex(/^\//, { message: 'expected an absolute path', abort: true }));
const url = checked(fmt.aptUri, z.string().regex(/^(https?|file|copy):\/\/\S+$/, { message: 'expected a URL (http://, https://, file://)', abort: true }));
const oneLine = checked(fmt.singleLine);
const debName = z.string().regex(/^[a-z0-9][a-z0-9+.-]+$/, { message: 'expected a Debian package name' });
const component = z.string().regex(/^[a-z][a-z0-9/-]*$/, { message: 'expected a component name like "main"' });
const arch = z.string().regex(/^[a-z0-9-]+$/, { message: 'expected a Debian architecture like "amd64"' });

export const ArchiveSchema = z
  .strictObject({
    path: absPath.describe('Directory of .deb files to import (top level only), e.g. /var/cache/apt/archives.'),
    codename: codename.describe('Suite the packages from this directory are filed under.'),
  })
  .describe('An apt archive directory the mirror imports from.');

export const RepositorySchema = z
  .strictObject({
    name: safeName.describe('Name used for the .sources and key file names in the container.'),
    uri: url.describe('Repository URI.'),
    suite: checked(fmt.aptSuite).describe('Suite (codename) of the repository.'),
    components: z.array(component).min(1).default(['main']).describe('Components to use.'),
    key: oneLine.optional().describe('Path to the repository key (.asc or binary), relative to the recipe file; copied to /etc/apt/keyrings.'),
    signedBy: checked(fmt.safeAbsPath).optional().describe('Signed-By path inside the container, if the key is already there (e.g. from a keyring package).'),
    enabled: z.boolean().default(true).describe('false: written to the container but disabled (Enabled: no).'),
  })
  .describe('An extra apt repository (deb822 .sources with Signed-By).');

export const PasswordSchema = z
  .discriminatedUnion('policy', [
    z.strictObject({ policy: z.literal('locked') }),
    z.strictObject({
      policy: z.literal('hash'),
      hash: z
        .string()
        .regex(/^\$(y|gy|7|2[abxy]|6|5)\$[!-9;-~]+$/, { message: 'expected a crypt(3) hash such as "$y$..." or "$6$..." (make one with `mkpasswd`)' }),
    }),
  ])
  .default({ policy: 'locked' })
  .describe('Password policy: locked (default) or a crypt(3) hash. Never a plain-text password.');

const uidRange = `ids below ${fmt.UID_MIN} belong to root (0) and system accounts, above ${fmt.UID_MAX} are reserved`;

export const UserSchema = z
  .strictObject({
    name: checked(fmt.recipeUserName, z.string().regex(fmt.USER_NAME, { message: 'expected a user name like "user"', abort: true })).describe(
      'User name (Debian\'s rules: lower-case letters, digits, "_", "-", starting with a letter); not root.',
    ),
    uid: z
      .number()
      .int()
      .min(fmt.UID_MIN, { message: `expected a uid from ${fmt.UID_MIN} to ${fmt.UID_MAX}: ${uidRange}` })
      .max(fmt.UID_MAX, { message: `expected a uid from ${fmt.UID_MIN} to ${fmt.UID_MAX}: ${uidRange}` })
      .optional()
      .describe(`User id (${fmt.UID_MIN}-${fmt.UID_MAX}).`),
    groups: z
      .array(checked(fmt.userGroup, z.string().regex(fmt.GROUP_NAME, { message: 'expected a group name like "sudo"', abort: true })))
      .default([])
      .describe('Supplementary groups, e.g. ["sudo"]; not root, shadow, disk or kmem (root-equivalent).'),
    shell: checked(fmt.loginShell).default('/bin/bash').describe('Login shell: an absolute path of safe characters.'),
    home: checked(fmt.homeDir).optional().describe('Home directory under /home or /srv; default /home/<name>.'),
    gecos: checked(fmt.gecos).optional().describe('Comment (full name) field of /etc/passwd; no ":".'),
    // One line each: an embedded newline would add a second authorized key.
    sshKeys: z.array(checked(fmt.sshPublicKey)).default([]).describe('OpenSSH public keys, one line each ("ssh-ed25519 AAAA... comment").'),
    password: PasswordSchema,
  })
  .describe('A user created in the container.');

const nspawnField = {
  network: z
    .enum(['host', 'private', 'veth'])
    .describe('host (default): share the host network; private: no network; veth: private network with a veth link.'),
  binds: z.array(checked(fmt.bindSpec)).describe('Bind= entries ("/host/path[:/container/path]"); default none.'),
  bindsReadOnly: z.array(checked(fmt.bindSpec)).describe('BindReadOnly= entries; default none.'),
  privateUsers: z.union([z.boolean(), z.literal('pick')]).describe('PrivateUsers=: false (default), true or "pick" (hardened).'),
};

/**
 * The nspawn block as a recipe writes it: no defaults here, so a field the
 * recipe leaves out is inherited from the recipe it extends (recipes.ts), and
 * only what no recipe of the chain sets gets the default (NspawnSettingsSchema).
 */
export const NspawnInputSchema = z
  .strictObject({
    network: nspawnField.network.optional(),
    binds: nspawnField.binds.optional(),
    bindsReadOnly: nspawnField.bindsReadOnly.optional(),
    privateUsers: nspawnField.privateUsers.optional(),
  })
  .describe('Settings for the .nspawn file; a field left out is taken from the recipe extended, else its default.');

/** The nspawn block of a resolved recipe: the defaults filled in. */
export const NspawnSettingsSchema = z
  .strictObject({
    network: nspawnField.network.default('host'),
    binds: nspawnField.binds.default([]),
    bindsReadOnly: nspawnField.bindsReadOnly.default([]),
    privateUsers: nspawnField.privateUsers.default(false),
  })
  .prefault({})
  .describe('Settings for the .nspawn file.');

/** A recipe as written (all fields optional so `extends` can fill them). */
export const RecipeInputSchema = z
  .strictObject({
    $schema: z.string().optional(),
    name: safeName.optional().describe('Recipe name; defaults to the file name or the key under "recipes".'),
    description: oneLine.optional(),
    extends: safeName.optional().describe('Name of a recipe this one builds on (its fields are defaults; arrays are replaced, nspawn is merged field by field).'),
    codename: codename.optional().describe('Distribution codename, e.g. "bookworm".'),
    variant: z.enum(['minbase', 'buildd', 'fakechroot', 'default']).optional().describe('debootstrap --variant ("default": none).'),
    upstream: url.optional().describe('Upstream mirror for this recipe; default: mirror.upstreams[codename].'),
    components: z.array(component).min(1).optional().describe('Components of the upstream, e.g. ["main"].'),
    packages: z.array(debName).optional().describe('Packages installed into the base root filesystem.'),
    repositories: z.array(RepositorySchema).optional().describe('Extra apt repositories.'),
    hostname: checked(fmt.hostname).optional().describe('Host name (RFC 1123); default: derived from the recipe name.'),
    users: z.array(UserSchema).optional(),
    steps: z.array(checked(fmt.scriptText)).optional().describe('Shell commands run by the first-boot script, in order.'),
    firstboot: z.enum(['systemd', 'rc.local']).optional().describe('First-boot mechanism: a systemd oneshot unit (default) or /etc/rc.local (the original recipe).'),
    bootstrap: z.enum(['debootstrap', 'mmdebstrap']).optional().describe('Bootstrap backend.'),
    nspawn: NspawnInputSchema.optional(),
    refresh: z.boolean().optional().describe('Warm this recipe in the nightly mirror refresh.'),
    updates: z
      .boolean()
      .optional()
      .describe('Also carry and use <codename>-updates and <codename>-security (default true; sid, unstable and experimental have none).'),
  })
  .describe('A container recipe.');

export const ConfigSchema = z
  .strictObject({
    $schema: z.string().optional(),
    stateDir: absPath.default('/var/lib/nspawn-kit').describe('Keys, locks, caches, records.'),
    mirror: z
      .strictObject({
        root: absPath.default('/var/local/mirrors').describe('The published apt repository.'),
        archives: z.array(ArchiveSchema).optional().describe("Directories to import from; default: the host's /var/cache/apt/archives with the host's codename."),
        upstreams: z
          .record(codename, url)
          .default({})
          .describe(
            'suite -> upstream mirror URL ("bookworm", "bookworm-updates", "bookworm-security"); default: the host\'s apt sources, else for a release debootstrap\'s default, for -updates the release\'s upstream, for -security Debian\'s security archive on the release upstream\'s host (<host>/debian-security) or, for a non-Debian archive, the release upstream itself.',
          ),
        architectures: z.array(arch).min(1).optional().describe("Architectures; default: the host's."),
        importer: z.enum(['native', 'apt-move']).default('native').describe('Pool importer.'),
        validDays: z.number().int().min(1).max(365).default(14).describe('Valid-Until of the Release files, in days.'),
        keep: z.number().int().min(1).default(3).describe('gc keeps this many newest versions of each package per suite.'),
        graceHours: z.number().min(0).default(48).describe('Superseded by-hash and pool files stay this long.'),
        origin: oneLine.default('nspawn-kit').describe('Origin and Label of the Release files.'),
      })
      .prefault({}),
    machines: z
      .strictObject({
        dir: absPath.default('/var/lib/machines').describe('Where container root filesystems live.'),
        settingsDir: absPath
          .default('/etc/systemd/nspawn')
          .describe(
            'Where the .nspawn settings files go. systemd-nspawn reads /etc/systemd/nspawn and /run/systemd/nspawn with every setting; for any other directory nspawn-kit also writes the file beside the root (<machines.dir>/<name>.nspawn) and boots and runs the machine with --settings=trusted, so the recipe settings (network, binds, user namespacing) always apply.',
          ),
        clone: z
          .enum(['auto', 'overlay', 'copy'])
          .default('auto')
          .describe(
            'How a machine gets its root from the cached base. "overlay": the machine directory holds only its own changes, stacked over the read-only base with overlayfs (systemd-nspawn --overlay / Overlay= in the .nspawn file), so a create copies nothing; the base then stays as long as a machine uses it. "copy": a full copy (cp -a --reflink=auto), independent of the base. "auto" (default): overlay where the kernel mounts it and the recipe has no PrivateUsers, else copy.',
          ),
        unitDir: absPath.default('/etc/systemd/system').describe('Where systemd units and drop-ins go: the systemd-nspawn@<name> drop-ins of machines (written only where systemd is PID 1, removed by `rm`) and the units of `install-units`.'),
      })
      .prefault({}),
    schedule: z
      .strictObject({
        refresh: checked(cronExpression).default('17 3 * * *').describe('Cron expression of the nightly mirror refresh.'),
        timezone: checked(timeZone).optional().describe('IANA time zone of the schedule; default: the host\'s.'),
      })
      .prefault({}),
    watch: z
      .strictObject({
        settleMs: z.number().int().min(0).default(500).describe('A file counts once its size has not changed for this long.'),
        batchMs: z.number().int().min(0).default(300).describe('Events within this window are imported together.'),
      })
      .prefault({}),
    recipeDirs: z.array(oneLine).default([]).describe('Extra directories of recipe JSON files (the bundled recipes/ is always searched).'),
    recipes: z.record(safeName, RecipeInputSchema).default({}).describe('Inline recipes, by name.'),
  })
  .describe('nspawn-kit configuration (/etc/nspawn-kit/config.json, or --config FILE).');

export type ConfigInput = z.input<typeof ConfigSchema>;
export type ParsedConfig = z.output<typeof ConfigSchema>;
export type RecipeInput = z.output<typeof RecipeInputSchema>;
export type Repository = z.output<typeof RepositorySchema>;
export type User = z.output<typeof UserSchema>;
export type NspawnSettings = z.output<typeof NspawnSettingsSchema>;

export function configJsonSchema(): unknown {
  return z.toJSONSchema(ConfigSchema, { io: 'input', target: 'draft-2020-12' });
}
export function recipeJsonSchema(): unknown {
  return z.toJSONSchema(RecipeInputSchema, { io: 'input', target: 'draft-2020-12' });
}
