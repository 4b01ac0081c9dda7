/**
 * Accounts of a container, planned by editing the text of its passwd,
 * shadow, group and gshadow files (pure: text in, text out). Running
 * useradd/chpasswd would need the password on a command line or stdin and
 * cannot be tested without root; these files have a simple, stable format.
 *
 * Policy: root is locked ("*"); each recipe user gets "!" (locked, SSH keys
 * still work through PAM) or the crypt(3) hash from the config. Supplementary
 * groups missing from the root (e.g. "docker") are created as system groups
 * (gid 999 downwards, like `addgroup --system`) and reported.
 */
import type { User } from '../config/schema.js';
import * as fmt from '../config/formats.js';
import { OperationError } from '../errors.js';

export interface AccountFiles {
  passwd: string;
  shadow: string;
  group: string;
  /** undefined when the root has no /etc/gshadow. */
  gshadow: string | undefined;
}

export interface PlannedHome {
  name: string;
  uid: number;
  gid: number;
  home: string;
  sshKeys: string[];
}

export interface UsersPlan {
  files: AccountFiles;
  homes: PlannedHome[];
  createdGroups: string[];
}

/** Values that keep root and users without a usable password. */
export const LOCKED_ROOT = '*';
export const LOCKED_USER = '!';

type Row = string[];

function parse(text: string): Row[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => l.split(':'));
}

/** The files' one rule: ":" separates fields, a newline rows; no field may hold either (or any control character). */
function serialize(rows: Row[]): string {
  for (const row of rows) {
    for (const field of row) {
      if (field.includes(':') || fmt.singleLine(field)) {
        throw new OperationError(`account field ${JSON.stringify(field)} of ${JSON.stringify(row[0])} contains ":" or a control character`, 'Fix the recipe user; `nspawn-kit config` reports why.');
      }
    }
  }
  return rows.map((r) => r.join(':')).join('\n') + '\n';
}

/**
 * The schema's checks again, before anything is written: the renderer never
 * trusts its input (a caller might pass users that were not validated).
 */
function assertUser(user: User): void {
  const checks: Array<[string, string | undefined]> = [
    ['name', fmt.recipeUserName(user.name)],
    ['shell', fmt.loginShell(user.shell)],
    ['home', user.home === undefined ? undefined : fmt.homeDir(user.home)],
    ['gecos', user.gecos === undefined ? undefined : fmt.gecos(user.gecos)],
    ['uid', user.uid === undefined || (Number.isInteger(user.uid) && user.uid >= fmt.UID_MIN && user.uid <= fmt.UID_MAX) ? undefined : `expected ${fmt.UID_MIN}-${fmt.UID_MAX}`],
    ...user.groups.map((g): [string, string | undefined] => [`group ${g}`, fmt.userGroup(g)]),
    ...user.sshKeys.map((k, i): [string, string | undefined] => [`sshKeys[${i}]`, fmt.sshPublicKey(k)]),
  ];
  if (user.password.policy === 'hash' && (user.password.hash.includes(':') || fmt.singleLine(user.password.hash))) checks.push(['password hash', 'contains ":" or a control character']);
  for (const [what, why] of checks) {
    if (why) throw new OperationError(`recipe user ${JSON.stringify(user.name)}: ${what}: ${why}`, 'Fix the recipe; `nspawn-kit config` checks it before a build.');
  }
}

/** Refuses an existing passwd or group row whose id is outside the recipe range (a system account or group). */
function assertNotSystemAccount(name: string, row: Row | undefined, kind: 'user' | 'group', idName: string): void {
  if (!row) return;
  const id = Number(row[2]);
  if (Number.isInteger(id) && id >= fmt.UID_MIN && id <= fmt.UID_MAX) return;
  throw new OperationError(
    `${kind} ${name} already exists in the root with ${idName} ${row[2]}, a system account: a recipe user would take it over`,
    `Give the recipe user another name; recipe users have uids ${fmt.UID_MIN}-${fmt.UID_MAX} and only ever take over accounts in that range.`,
  );
}

function upsert(rows: Row[], row: Row): void {
  const i = rows.findIndex((r) => r[0] === row[0]);
  if (i >= 0) rows[i] = row;
  else rows.push(row);
}

function ids(rows: Row[], field: number): Set<number> {
  return new Set(rows.map((r) => Number(r[field])).filter((n) => Number.isInteger(n)));
}

function firstFree(used: Set<number>, from: number, to: number): number {
  const step = from <= to ? 1 : -1;
  for (let id = from; step > 0 ? id <= to : id >= to; id += step) if (!used.has(id)) return id;
  throw new OperationError(`no free id between ${from} and ${to} in the root`, 'Remove unused accounts or give an explicit uid.');
}

function addMember(row: Row, field: number, name: string): void {
  const members = (row[field] ?? '').split(',').filter(Boolean);
  if (!members.includes(name)) members.push(name);
  while (row.length <= field) row.push('');
  row[field] = members.join(',');
}

/** Days since the epoch, the unit of shadow's "last change" field. */
export function shadowDays(now: Date): number {
  return Math.floor(now.getTime() / 86_400_000);
}

export function passwordField(user: User): string {
  return user.password.policy === 'hash' ? user.password.hash : LOCKED_USER;
}

export function planUsers(current: AccountFiles, users: readonly User[], now: Date): UsersPlan {
  const passwd = parse(current.passwd);
  const shadow = parse(current.shadow);
  const group = parse(current.group);
  const gshadow = current.gshadow === undefined ? undefined : parse(current.gshadow);
  const days = String(shadowDays(now));
  const createdGroups: string[] = [];
  const homes: PlannedHome[] = [];

  const rootShadow = shadow.find((r) => r[0] === 'root');
  if (!rootShadow) shadow.unshift(['root', LOCKED_ROOT, days, '0', '99999', '7', '', '', '']);
  else if (!['*', '!', '!*'].includes(rootShadow[1] ?? '')) rootShadow[1] = LOCKED_ROOT;

  for (const user of users) {
    if (user.name === 'root') {
      throw new OperationError('a recipe user may not be "root"', 'root stays locked; add a normal user with the groups it needs.');
    }
    assertUser(user);
    const existing = passwd.find((r) => r[0] === user.name);
    // An account of the root outside the recipe range (a system account the bootstrap or a
    // package made, e.g. www-data) is never taken over, whatever uid the recipe gives.
    assertNotSystemAccount(user.name, existing, 'user', 'uid');
    assertNotSystemAccount(user.name, group.find((r) => r[0] === user.name), 'group', 'gid');
    const uid = user.uid ?? (existing ? Number(existing[2]) : firstFree(ids(passwd, 2), 1000, 59999));
    const owner = passwd.find((r) => Number(r[2]) === uid && r[0] !== user.name);
    if (owner) {
      throw new OperationError(`uid ${uid} of user ${user.name} already belongs to ${owner[0]} in the root`, 'Pick another uid in the recipe.');
    }
    // The user's own group: gid = uid when free, as adduser does.
    let ownGroup = group.find((r) => r[0] === user.name);
    if (!ownGroup) {
      const gids = ids(group, 2);
      const gid = gids.has(uid) ? firstFree(gids, 1000, 59999) : uid;
      ownGroup = [user.name, 'x', String(gid), ''];
      group.push(ownGroup);
      if (gshadow) upsert(gshadow, [user.name, '!', '', '']);
    }
    const gid = Number(ownGroup[2]);
    if (gid === 0 || fmt.privilegedGroup(ownGroup[0] ?? '')) {
      throw new OperationError(`the primary group of user ${user.name} would be ${ownGroup[0]} (gid ${gid}), which is root-equivalent`, 'Give the recipe user another name.');
    }
    const home = user.home ?? `/home/${user.name}`;
    upsert(passwd, [user.name, 'x', String(uid), String(gid), user.gecos ?? '', home, user.shell]);
    upsert(shadow, [user.name, passwordField(user), days, '0', '99999', '7', '', '', '']);

    for (const name of user.groups) {
      let row = group.find((r) => r[0] === name);
      if (!row) {
        row = [name, 'x', String(firstFree(ids(group, 2), 999, 100)), ''];
        group.push(row);
        createdGroups.push(name);
        if (gshadow) upsert(gshadow, [name, '!', '', '']);
      }
      addMember(row, 3, user.name);
      const gsRow = gshadow?.find((r) => r[0] === name);
      if (gsRow) addMember(gsRow, 3, user.name);
    }
    homes.push({ name: user.name, uid, gid, home, sshKeys: user.sshKeys });
  }

  return {
    files: {
      passwd: serialize(passwd),
      shadow: serialize(shadow),
      group: serialize(group),
      gshadow: gshadow === undefined ? undefined : serialize(gshadow),
    },
    homes,
    createdGroups,
  };
}

/** ~/.ssh/authorized_keys: one key per line, each checked again (one line, a known key type). */
export function renderAuthorizedKeys(keys: readonly string[]): string {
  return (
    keys
      .map((k) => {
        const why = fmt.sshPublicKey(k.trim());
        if (why) throw new OperationError(`SSH key ${JSON.stringify(k)}: ${why}`, 'Fix sshKeys in the recipe.');
        return k.trim();
      })
      .join('\n') + '\n'
  );
}
