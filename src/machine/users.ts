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

function serialize(rows: Row[]): string {
  return rows.map((r) => r.join(':')).join('\n') + '\n';
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
    const existing = passwd.find((r) => r[0] === user.name);
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
    const home = `/home/${user.name}`;
    upsert(passwd, [user.name, 'x', String(uid), String(gid), '', home, user.shell]);
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

/** ~/.ssh/authorized_keys: one key per line. */
export function renderAuthorizedKeys(keys: readonly string[]): string {
  return keys.map((k) => k.trim()).join('\n') + '\n';
}
