import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { User } from '../../src/config/schema.js';
import { OperationError } from '../../src/errors.js';
import { planUsers, renderAuthorizedKeys, shadowDays, type AccountFiles } from '../../src/machine/users.js';

// The account files of a bookworm minbase, abridged.
const BASE: AccountFiles = {
  passwd: 'root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n',
  shadow: 'root:$6$salt$abcdefgh:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n',
  group: 'root:x:0:\ndaemon:x:1:\nsudo:x:27:\nshadow:x:42:\nnogroup:x:65534:\n',
  gshadow: 'root:*::\ndaemon:*::\nsudo:*::\nshadow:*::\nnogroup:*::\n',
};
const NOW = new Date('2026-01-02T03:04:05Z');
const user = (over: Partial<User>): User => ({ name: 'alice', groups: [], shell: '/bin/bash', sshKeys: [], password: { policy: 'locked' }, ...over });
const row = (text: string, name: string) => text.split('\n').find((l) => l.startsWith(`${name}:`))?.split(':');

test('root is locked even when it had a hash; other system accounts untouched', () => {
  const plan = planUsers(BASE, [], NOW);
  assert.is(row(plan.files.shadow, 'root')?.[1], '*');
  assert.is(row(plan.files.shadow, 'daemon')?.join(':'), 'daemon:*:19000:0:99999:7:::');
  assert.not.match(plan.files.shadow, /\$6\$/);
  assert.is(plan.files.passwd, BASE.passwd);
});

test('a missing root shadow line is added locked', () => {
  const plan = planUsers({ ...BASE, shadow: 'daemon:*:1:0:99999:7:::\n' }, [], NOW);
  assert.is(row(plan.files.shadow, 'root')?.[1], '*');
});

test('locked user: "!" in shadow, uid 1000, own group gid 1000, home, shell, sudo membership', () => {
  const plan = planUsers(BASE, [user({ groups: ['sudo'] })], NOW);
  assert.equal(row(plan.files.passwd, 'alice'), ['alice', 'x', '1000', '1000', '', '/home/alice', '/bin/bash']);
  // Last change: days since the epoch, as `echo $(( $(date -u -d 2026-01-02T03:04:05Z +%s) / 86400 ))` prints.
  assert.equal(row(plan.files.shadow, 'alice'), ['alice', '!', '20455', '0', '99999', '7', '', '', '']);
  assert.is(shadowDays(NOW), 20455);
  assert.is(shadowDays(new Date('1970-01-01T23:59:59Z')), 0);
  assert.equal(row(plan.files.group, 'alice'), ['alice', 'x', '1000', '']);
  assert.equal(row(plan.files.group, 'sudo'), ['sudo', 'x', '27', 'alice']);
  assert.equal(row(plan.files.gshadow!, 'sudo'), ['sudo', '*', '', 'alice']);
  assert.equal(row(plan.files.gshadow!, 'alice'), ['alice', '!', '', '']);
  assert.equal(plan.homes, [{ name: 'alice', uid: 1000, gid: 1000, home: '/home/alice', sshKeys: [] }]);
  assert.equal(plan.createdGroups, []);
});

test('hash policy: the given crypt hash, nothing else', () => {
  const hash = '$y$j9T$abcdefghijklmnop$0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg';
  const plan = planUsers(BASE, [user({ uid: 1500, password: { policy: 'hash', hash } })], NOW);
  assert.is(row(plan.files.shadow, 'alice')?.[1], hash);
  assert.is(row(plan.files.passwd, 'alice')?.[2], '1500');
});

test('missing supplementary groups are created as system groups and reported', () => {
  const plan = planUsers(BASE, [user({ groups: ['docker', 'sudo', 'kvm'] })], NOW);
  assert.equal(row(plan.files.group, 'docker'), ['docker', 'x', '999', 'alice']);
  assert.equal(row(plan.files.group, 'kvm'), ['kvm', 'x', '998', 'alice']);
  assert.equal(plan.createdGroups, ['docker', 'kvm']);
  assert.equal(row(plan.files.gshadow!, 'docker'), ['docker', '!', '', 'alice']);
});

test('second user gets the next free ids; re-planning is idempotent', () => {
  const once = planUsers(BASE, [user({}), user({ name: 'bob', groups: ['sudo'] })], NOW);
  assert.is(row(once.files.passwd, 'bob')?.[2], '1001');
  const twice = planUsers(once.files, [user({}), user({ name: 'bob', groups: ['sudo'] })], NOW);
  assert.equal(twice.files, once.files);
});

test('a uid taken by another account is refused; so is a user named root', () => {
  const withBob = { ...BASE, passwd: BASE.passwd + 'bob:x:1200:1200::/home/bob:/bin/sh\n' };
  assert.throws(() => planUsers(withBob, [user({ uid: 1200 })], NOW), (e: unknown) => e instanceof OperationError && /1200.*bob/.test((e as Error).message));
  assert.throws(() => planUsers(BASE, [user({ name: 'root' })], NOW), /root/);
});

test('no gshadow in the root: none written', () => {
  const plan = planUsers({ ...BASE, gshadow: undefined }, [user({ groups: ['sudo'] })], NOW);
  assert.is(plan.files.gshadow, undefined);
});

/** The base64 blob of an OpenSSH public key of `type` (a length-prefixed type name, then key bytes). */
const blob = (type: string) => {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(type.length);
  return Buffer.concat([len, Buffer.from(type), Buffer.alloc(36, 7)]).toString('base64');
};

test('authorized_keys: one key per line', () => {
  const ed = `ssh-ed25519 ${blob('ssh-ed25519')}`;
  const rsa = `ssh-rsa ${blob('ssh-rsa')}`;
  assert.is(renderAuthorizedKeys([`${ed} a@b `, rsa]), `${ed} a@b\n${rsa}\n`);
});

test('authorized_keys refuses what the schema refuses: a second line, an unknown type, a blob of another type', () => {
  const ed = `ssh-ed25519 ${blob('ssh-ed25519')}`;
  assert.throws(() => renderAuthorizedKeys([`${ed} a@b\ncommand="sh" ${ed}`]), /one line/);
  assert.throws(() => renderAuthorizedKeys([`ssh-dss ${blob('ssh-dss')}`]), /TYPE one of/);
  assert.throws(() => renderAuthorizedKeys([`ssh-ed25519 ${blob('ssh-rsa')}`]), /not a ssh-ed25519 key/);
});

test('second line of defence: hostile users that skipped the schema are refused, nothing is planned', () => {
  const cases: Array<[Partial<User>, RegExp]> = [
    [{ shell: '/bin/bash\nevil::0:0::/:/bin/sh' }, /shell: expected an absolute path of letters/],
    [{ gecos: 'Alice:0:0' }, /gecos: must not contain ":"/],
    [{ home: '/home/a:b' }, /home: expected an absolute path of letters/],
    [{ home: '/etc' }, /home: expected a directory under \/home or \/srv/],
    [{ uid: 0 }, /uid: expected 1000-60000/],
    [{ groups: ['shadow'] }, /group shadow: group shadow reads every password hash/],
    [{ groups: ['disk'] }, /group disk: group disk writes raw block devices/],
    [{ name: 'shadow' }, /name: a user named "shadow" would get group shadow as its primary group/],
  ];
  for (const [over, re] of cases) {
    assert.throws(() => planUsers(BASE, [user(over)], NOW), (e: unknown) => e instanceof OperationError && re.test((e as Error).message), JSON.stringify(over));
  }
});

test('a recipe user never takes over a system account of the root (uid below 1000 or above 60000)', () => {
  assert.throws(() => planUsers(BASE, [user({ name: 'daemon' })], NOW), /user daemon already exists in the root with uid 1, a system account/);
  assert.throws(() => planUsers(BASE, [user({ name: 'nobody' })], NOW), /uid 65534/);
});

test('an existing system account is refused whatever uid the recipe gives (www-data with uid 1500), or a system group of its name', () => {
  const withWww: AccountFiles = {
    passwd: `${BASE.passwd}www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n`,
    shadow: `${BASE.shadow}www-data:*:19000:0:99999:7:::\n`,
    group: `${BASE.group}www-data:x:33:\n`,
    gshadow: `${BASE.gshadow}www-data:*::\n`,
  };
  const refused = (re: RegExp) => (e: unknown) => e instanceof OperationError && re.test((e as Error).message);
  for (const uid of [1500, 1000, 60000, undefined]) {
    assert.throws(() => planUsers(withWww, [user({ name: 'www-data', uid })], NOW), refused(/user www-data already exists in the root with uid 33, a system account/), String(uid));
  }
  assert.throws(() => planUsers(BASE, [user({ name: 'daemon', uid: 2000 })], NOW), refused(/user daemon .* uid 1, a system account/));
  assert.throws(() => planUsers(BASE, [user({ name: 'nobody', uid: 2000 })], NOW), refused(/uid 65534, a system account/));
  // A system group of that name (no user): the recipe user's own group would be it.
  const withStaff = { ...BASE, group: `${BASE.group}staff:x:50:\n` };
  assert.throws(() => planUsers(withStaff, [user({ name: 'staff', uid: 1500 })], NOW), refused(/group staff already exists in the root with gid 50, a system account/));
  // The account files are untouched by a refused plan: planning the other users alone still works.
  const ok = planUsers(withWww, [user({ uid: 1500 })], NOW);
  assert.equal(row(ok.files.passwd, 'www-data'), ['www-data', 'x', '33', '33', 'www-data', '/var/www', '/usr/sbin/nologin']);
  assert.equal(row(ok.files.passwd, 'alice'), ['alice', 'x', '1500', '1500', '', '/home/alice', '/bin/bash']);
});

test('a recipe user already in the root in the recipe range is updated in place (re-injection)', () => {
  const withAlice = { ...BASE, passwd: `${BASE.passwd}alice:x:1400:1400::/home/alice:/bin/sh\n`, group: `${BASE.group}alice:x:1400:\n` };
  const plan = planUsers(withAlice, [user({ uid: 1400 })], NOW);
  assert.equal(row(plan.files.passwd, 'alice'), ['alice', 'x', '1400', '1400', '', '/home/alice', '/bin/bash']);
});

test('gecos and home from the recipe reach passwd as fields, nothing more', () => {
  const plan = planUsers(BASE, [user({ gecos: 'Alice Liddell,,,', home: '/srv/alice' })], NOW);
  assert.equal(row(plan.files.passwd, 'alice'), ['alice', 'x', '1000', '1000', 'Alice Liddell,,,', '/srv/alice', '/bin/bash']);
  assert.is(plan.files.passwd, `${BASE.passwd}alice:x:1000:1000:Alice Liddell,,,:/srv/alice:/bin/bash\n`);
});

test.run();
