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
  assert.equal(row(plan.files.shadow, 'alice'), ['alice', '!', String(shadowDays(NOW)), '0', '99999', '7', '', '', '']);
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

test('authorized_keys: one key per line', () => {
  assert.is(renderAuthorizedKeys(['ssh-ed25519 AAAA a@b ', 'ssh-rsa BBBB']), 'ssh-ed25519 AAAA a@b\nssh-rsa BBBB\n');
});

test.run();
