/** The per-format string rules (src/config/formats.ts) and the path policy, value by value. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as fmt from '../../src/config/formats.js';
import { bindProblem, relation } from '../../src/config/path-policy.js';
import { makeConfig } from '../helpers/config.js';

const blob = (type: string, extra = 32) => {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(type.length);
  return Buffer.concat([len, Buffer.from(type), Buffer.alloc(extra, 1)]).toString('base64');
};

test('host names per RFC 1123: dotted labels, no leading or trailing "-", at most 64 characters', () => {
  for (const ok of ['web1', 'qgisbuilds', 'Web-1', 'a.b.example', '1host', 'x'.repeat(63)]) assert.is(fmt.hostname(ok), undefined, ok);
  for (const bad of ['', '-web', 'web-', 'a..b', 'a_b', 'evil\nhost', 'web 1', `${'x'.repeat(40)}.${'y'.repeat(30)}`, 'x'.repeat(64) + 'y', 'é']) {
    assert.ok(fmt.hostname(bad), JSON.stringify(bad));
  }
});

test('user and group names per Debian; root and root-equivalent groups refused; sudo is fine', () => {
  for (const ok of ['user', 'a', 'dev-1', 'build_bot', 'x'.repeat(32)]) assert.is(fmt.recipeUserName(ok), undefined, ok);
  for (const bad of ['User', '_svc', '1user', 'us:er', 'a b', 'x'.repeat(33), 'root', 'shadow', 'disk', 'kmem', '']) assert.ok(fmt.recipeUserName(bad), bad);
  assert.is(fmt.userGroup('sudo'), undefined);
  assert.is(fmt.userGroup('_ssh'), undefined);
  // Names that are properties of every JS object are ordinary names.
  assert.is(fmt.userGroup('constructor'), undefined);
  assert.is(fmt.recipeUserName('constructor'), undefined);
  assert.is(fmt.userGroup('__proto__'), undefined);
  for (const g of ['root', 'shadow', 'disk', 'kmem']) assert.match(fmt.userGroup(g) ?? '', `group ${g}`);
  assert.match(fmt.userGroup('Admins') ?? '', 'expected a group name');
});

test('shells and homes: absolute paths of safe characters; homes under /home or /srv', () => {
  for (const ok of ['/bin/bash', '/usr/bin/zsh', '/usr/local/bin/fish-3.7']) assert.is(fmt.loginShell(ok), undefined, ok);
  for (const bad of ['bash', '/bin/bash\n', '/bin/ba:sh', '/bin/b ash', '/bin/../sh', '/bin//sh', '/bin/sh/', '/', "/bin/'sh'", '/bin/$x']) {
    assert.ok(fmt.loginShell(bad), JSON.stringify(bad));
  }
  for (const ok of ['/home/alice', '/srv/app', '/home/a/b']) assert.is(fmt.homeDir(ok), undefined, ok);
  for (const bad of ['/', '/home', '/srv', '/etc', '/root', '/var/lib/dpkg', '/home/../etc', '/home/a:b']) assert.ok(fmt.homeDir(bad), bad);
  assert.is(fmt.gecos('Alice Liddell,Room 1,,'), undefined);
  assert.ok(fmt.gecos('a:b'));
  assert.ok(fmt.gecos('a\nb'));
});

test('SSH keys: one line, a known type, data that names the same type', () => {
  for (const type of fmt.SSH_KEY_TYPES) assert.is(fmt.sshPublicKey(`${type} ${blob(type)} me@host`), undefined, type);
  assert.is(fmt.sshPublicKey(`ssh-ed25519 ${blob('ssh-ed25519')}`), undefined);
  assert.match(fmt.sshPublicKey(`ssh-ed25519 ${blob('ssh-ed25519')} a\nssh-rsa ${blob('ssh-rsa')}`) ?? '', 'one line');
  assert.match(fmt.sshPublicKey(`ssh-dss ${blob('ssh-dss')}`) ?? '', 'TYPE one of');
  assert.match(fmt.sshPublicKey(`ssh-rsa ${blob('ssh-ed25519')}`) ?? '', 'not a ssh-rsa key');
  assert.ok(fmt.sshPublicKey(`command="sh" ssh-ed25519 ${blob('ssh-ed25519')}`));
  assert.ok(fmt.sshPublicKey('ssh-ed25519 not*base64'));
  assert.ok(fmt.sshPublicKey(`ssh-ed25519 ${blob('ssh-ed25519')} comment\u001b[2J`));
});

test('deb822 values: URIs printable without spaces, suites of safe characters', () => {
  assert.is(fmt.aptUri('https://deb.debian.org/debian'), undefined);
  assert.is(fmt.aptUri('file:///srv/mirror'), undefined);
  for (const bad of ['https://a b', 'https://a\nTrusted: yes', 'ftp://x', 'https://a\u0001']) assert.ok(fmt.aptUri(bad), bad);
  for (const ok of ['bookworm', 'jammy-updates', 'bookworm-security', 'stable/updates']) assert.is(fmt.aptSuite(ok), undefined, ok);
  for (const bad of ['', '-x', 'a b', 'stable\nTrusted: yes', 'a:b']) assert.ok(fmt.aptSuite(bad), bad);
});

test('binds: SOURCE[:DEST[:OPTIONS]], absolute safe paths, known options', () => {
  assert.equal(fmt.parseBind('/srv/data'), { source: '/srv/data', dest: '/srv/data', options: [] });
  assert.equal(fmt.parseBind('/srv/data:/data:rbind,idmap'), { source: '/srv/data', dest: '/data', options: ['rbind', 'idmap'] });
  for (const bad of ['srv', '+/srv', '/a:/b:/c:/d', '/a:/b:ro', '/a b', '/a\n', '/a:rel', '/a/../etc']) assert.type(fmt.parseBind(bad), 'string', bad);
});

test('path policy: normalised and real paths; binds of protected directories refused, others allowed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nk-policy-'));
  try {
    const config = makeConfig(dir);
    mkdirSync(config.stateDir);
    symlinkSync(config.stateDir, join(dir, 'link'));
    assert.is(relation(`${dir}/link/gnupg`, config.stateDir), 'inside');
    assert.is(relation(`${dir}/state/../link`, config.stateDir), 'same');
    assert.is(relation(dir, config.stateDir), 'contains');
    assert.is(relation(`${dir}/mirror`, config.stateDir), 'apart');
    assert.is(relation(`${dir}/statefoo`, config.stateDir), 'apart');
    assert.is(bindProblem('/srv/data:/data', config, false), undefined);
    assert.is(bindProblem(config.mirror.root, config, true), undefined, 'the mirror read-only is fine');
    assert.match(bindProblem(config.mirror.root, config, false) ?? '', 'the published mirror');
    assert.match(bindProblem(`${dir}/link:/keys`, config, true) ?? '', `host path ${dir}/link is ${config.stateDir}: nspawn-kit's state`);
    assert.match(bindProblem('/run', config, true) ?? '', 'contains /run/systemd/nspawn: trusted .nspawn settings');
    assert.match(bindProblem('/', config, true) ?? '', 'whole file system');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
