/**
 * String rules per target file format. Every configuration or recipe string
 * that ends up in a line- or field-oriented file (passwd, group, shadow,
 * hosts, hostname, deb822 .sources, .nspawn files, unit files,
 * authorized_keys, the first-boot script) is checked here, once: the schema
 * uses these checks to refuse a value with its key path before anything is
 * built, and the renderers call the same checks again before they write
 * (a second line of defence: they never trust their input).
 *
 * Each check returns undefined when the value is fine, else why it is not.
 */

// C0 controls (newline, carriage return, tab, NUL, escape...), DEL, C1 controls,
// and the Unicode line/paragraph separators: none of them belongs in one field.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
// eslint-disable-next-line no-control-regex
const CONTROL_BUT_NEWLINE_TAB = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]/;

export type Check = (value: string) => string | undefined;

/** One line of text: no control character, no line break. */
export const singleLine: Check = (v) => (CONTROL.test(v) ? 'must be one line without control characters (newline, tab, escape...)' : undefined);

/** A shell command of the first-boot script: several lines are fine (it is quoted), other control characters are not. */
export const scriptText: Check = (v) => (CONTROL_BUT_NEWLINE_TAB.test(v) ? 'must not contain control characters other than newline and tab' : undefined);

/** An absolute path on the host: one line, starting with "/". */
export const hostPath: Check = (v) => (!v.startsWith('/') ? 'expected an absolute path' : singleLine(v));

/** Characters of a path that no file format here gives a meaning (no ":", space, quote, "$", "\\", "%"...). */
const SAFE_PATH = /^(\/[A-Za-z0-9._+@=,~-]+)+$/;

/**
 * An absolute path of safe characters, written into passwd or a settings
 * file: no ":" (passwd's separator), no space, quote, backslash or control
 * character, no "." or ".." component, no trailing or doubled "/".
 */
export const safeAbsPath: Check = (v) => {
  if (!SAFE_PATH.test(v)) return 'expected an absolute path of letters, digits and "._+@=,~-" (no ":", spaces, quotes, backslashes or control characters)';
  if (v.split('/').some((part) => part === '.' || part === '..')) return 'expected a path without "." or ".." components';
  return undefined;
};

/**
 * A Debian codename ("bookworm", "trixie", "jammy"): the one rule, used by the
 * schema, the mirror (it names dists/<codename> and the suite list
 * <codename>.list), machine records and the bootstrap's argv. Lower-case
 * letters, digits and "-", starting with a letter, 2 to 32 characters.
 */
export const CODENAME = /^[a-z][a-z0-9-]{1,31}$/;

/** Debian's NAME_REGEX (adduser.conf) for users, at most 32 characters (useradd). */
export const USER_NAME = /^[a-z][a-z0-9_-]{0,31}$/;
/** Debian's SYS_NAME_REGEX for groups (system groups may start with "_"), at most 32 characters. */
export const GROUP_NAME = /^[a-z_][a-z0-9_-]{0,31}$/;

export const userName: Check = (v) =>
  USER_NAME.test(v) ? undefined : 'expected a user name of lower-case letters, digits, "_" and "-", starting with a letter, at most 32 characters';
export const groupName: Check = (v) =>
  GROUP_NAME.test(v) ? undefined : 'expected a group name of lower-case letters, digits, "_" and "-", starting with a letter or "_", at most 32 characters';

/** The gecos (comment) field of passwd: one line, no ":" (the field separator). */
export const gecos: Check = (v) => (v.includes(':') ? 'must not contain ":" (the field separator of /etc/passwd)' : singleLine(v));

/** Groups that give root-equivalent access to a recipe user, with the reason. */
const PRIVILEGED_GROUPS: ReadonlyMap<string, string> = new Map([
  ['root', 'group root owns system files: membership is root-equivalent'],
  ['shadow', 'group shadow reads every password hash in /etc/shadow'],
  ['disk', 'group disk writes raw block devices: membership is root-equivalent'],
  ['kmem', 'group kmem reads kernel memory'],
]);

/** Why membership of this group is root-equivalent, or undefined. */
export function privilegedGroup(name: string): string | undefined {
  return PRIVILEGED_GROUPS.get(name);
}

/** Why a supplementary group may not be given to a recipe user, or undefined. */
export const userGroup: Check = (v) => {
  const bad = groupName(v);
  if (bad) return bad;
  const why = privilegedGroup(v);
  return why ? `${why}; use "sudo" for administrators` : undefined;
};

/** A recipe user's name: Debian's rules, not root, not the name of a privileged group (it would become its primary group). */
export const recipeUserName: Check = (v) => {
  const bad = userName(v);
  if (bad) return bad;
  if (v === 'root') return 'a recipe user may not be "root": root stays locked; add a normal user with the groups it needs (e.g. "sudo")';
  const privileged = privilegedGroup(v);
  if (privileged) return `a user named "${v}" would get group ${v} as its primary group (${privileged})`;
  return undefined;
};

/** Ids of recipe users: below 1000 are root and system accounts (Debian's FIRST_UID), above 60000 reserved (LAST_UID). */
export const UID_MIN = 1000;
export const UID_MAX = 60000;

/** A home directory: a safe absolute path under /home or /srv (it is created and chowned to the user). */
export const homeDir: Check = (v) => {
  const bad = safeAbsPath(v);
  if (bad) return bad;
  if (!/^\/(home|srv)\/./.test(v)) return 'expected a directory under /home or /srv: the home is created and given to the user, so a system directory would become theirs';
  return undefined;
};

/** A login shell: a safe absolute path. */
export const loginShell: Check = safeAbsPath;

/**
 * Host names per RFC 1123 (section 2.1), at most 64 characters in all (the
 * kernel's HOST_NAME_MAX): dot-separated labels of letters, digits and "-",
 * each 1-63 characters, neither starting nor ending with "-".
 */
export const hostname: Check = (v) => {
  const label = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
  if (v.length > 64 || !v.split('.').every((l) => label.test(l))) {
    return 'expected a host name (RFC 1123): labels of letters, digits and "-" separated by ".", not starting or ending with "-", at most 64 characters';
  }
  return undefined;
};

/** OpenSSH public key types accepted in authorized_keys. */
export const SSH_KEY_TYPES = [
  'ssh-ed25519',
  'ssh-rsa',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
] as const;

/**
 * One authorized_keys line: "TYPE BASE64 [comment]", TYPE a known key type,
 * BASE64 a key blob that names the same type (as ssh-keygen writes it), the
 * comment one line.
 */
export const sshPublicKey: Check = (v) => {
  const usage = `expected one OpenSSH public key line "TYPE BASE64 [comment]" with TYPE one of ${SSH_KEY_TYPES.join(', ')}`;
  if (singleLine(v)) return `${usage}; it must be one line without control characters`;
  const m = /^(\S+) ([A-Za-z0-9+/]+={0,2})(?: (.*))?$/.exec(v);
  if (!m?.[1] || !m[2]) return usage;
  const type = m[1];
  if (!(SSH_KEY_TYPES as readonly string[]).includes(type)) return usage;
  const blob = Buffer.from(m[2], 'base64');
  const len = blob.length >= 4 ? blob.readUInt32BE(0) : -1;
  if (len !== type.length || blob.subarray(4, 4 + len).toString('latin1') !== type) return `the key data is not a ${type} key (${usage})`;
  return undefined;
};

/** An apt URI in a deb822 field: a known scheme, printable ASCII, no spaces. */
export const aptUri: Check = (v) =>
  /^(https?|file|copy):\/\/[\x21-\x7e]+$/.test(v) ? undefined : 'expected a URL (http://, https://, file://) of printable characters without spaces';

/** A suite in a deb822 Suites: field. */
export const aptSuite: Check = (v) =>
  /^[A-Za-z0-9][A-Za-z0-9._~+/-]*$/.test(v) ? undefined : 'expected a suite like "bookworm" or "jammy-updates" (letters, digits and "._~+/-")';

/**
 * Bind=/BindReadOnly= of a .nspawn file: "SOURCE[:DEST[:OPTIONS]]", ":" is the
 * separator, so neither path may contain one; both absolute and safe.
 */
export const BIND_OPTIONS = ['rbind', 'norbind', 'idmap', 'noidmap', 'rootidmap', 'owneridmap'] as const;

export interface BindSpec {
  source: string;
  dest: string;
  options: string[];
}

export function parseBind(v: string): BindSpec | string {
  if (singleLine(v)) return 'must be one line without control characters';
  const parts = v.split(':');
  if (parts.length > 3) return 'expected "/host/path[:/container/path[:options]]" (":" separates the fields, so paths may not contain one)';
  const [source = '', dest = source, opts = ''] = parts;
  for (const [what, p] of [
    ['host path', source],
    ['container path', dest],
  ] as const) {
    const bad = p === '/' ? undefined : safeAbsPath(p);
    if (bad) return `${what} ${JSON.stringify(p)}: ${bad}`;
  }
  const options = opts === '' ? [] : opts.split(',');
  const unknown = options.filter((o) => !(BIND_OPTIONS as readonly string[]).includes(o));
  if (unknown.length) return `unknown bind option ${unknown.map((o) => JSON.stringify(o)).join(', ')}; known: ${BIND_OPTIONS.join(', ')}`;
  return { source, dest, options };
}

export const bindSpec: Check = (v) => {
  const r = parseBind(v);
  return typeof r === 'string' ? r : undefined;
};
