/**
 * injectFirstBoot into a fake root made at test time (account files of a
 * bookworm minbase, merged-usr symlinks, skel, the Debian keyring), with a
 * real armored mirror key from gpg.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeConfig, makeRecipe } from '../helpers/config.js';
import { exportKey, stopAgent, testKeyring } from '../helpers/gpg.js';
import { Shell } from '../../src/shell.js';
import { OperationError } from '../../src/errors.js';
import type { Recipe } from '../../src/config/types.js';
import { injectFirstBoot, resolveInRoot } from '../../src/machine/inject.js';
import { FIRSTBOOT } from '../../src/machine/paths.js';
import { snapshotContents } from '../helpers/tree.js';

const isRoot = process.getuid?.() === 0;
const base = mkdtempSync(join(tmpdir(), 'nk-inject-'));
const config = makeConfig(base);
const HASH = '$y$j9T$abcdefghijklmnop$0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg';
const HOSTILE = '--version $(touch pwned) `id`.txt';
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9zcGF3bi1raXQtdGVzdC1rZXktMDAwMDAwMDAw alice@test';

// A real armored public key for the mirror (ed25519, made once for this file).
{
  const env = testKeyring(base, 'gnupg');
  mkdirSync(config.mirror.root, { recursive: true });
  writeFileSync(join(config.mirror.root, 'mirror.asc'), exportKey(env, true));
  writeFileSync(join(base, 'repo.gpg'), exportKey(env, false));
  stopAgent(env);
}

let n = 0;
function fakeRoot(): string {
  const root = join(base, `root${++n}`);
  for (const d of ['etc/apt/sources.list.d', 'etc/skel', 'usr/bin', 'usr/lib', 'usr/share/keyrings', 'home', 'var/lib']) mkdirSync(join(root, d), { recursive: true });
  symlinkSync('usr/bin', join(root, 'bin'));
  symlinkSync('usr/lib', join(root, 'lib'));
  writeFileSync(join(root, 'usr/bin/bash'), '');
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n');
  writeFileSync(join(root, 'etc/shadow'), 'root:$6$salt$abcdefgh:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n', { mode: 0o640 });
  writeFileSync(join(root, 'etc/group'), 'root:x:0:\ndaemon:x:1:\nsudo:x:27:\nshadow:x:42:\n');
  writeFileSync(join(root, 'etc/gshadow'), 'root:*::\ndaemon:*::\nsudo:*::\nshadow:*::\n', { mode: 0o640 });
  writeFileSync(join(root, 'usr/lib/os-release'), 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n');
  symlinkSync('../usr/lib/os-release', join(root, 'etc/os-release'));
  writeFileSync(join(root, 'etc/skel/.bashrc'), '# bashrc\n', { mode: 0o644 });
  symlinkSync('/etc/shadow', join(root, 'etc/skel/.evil')); // must not be copied (nor followed)
  writeFileSync(join(root, 'etc/skel', HOSTILE), 'x'); // copied verbatim, runs nothing
  writeFileSync(join(root, 'etc/apt/sources.list'), 'deb file:///tmp/bootstrap-mirror bookworm main\n');
  copyFileSync('/usr/share/keyrings/debian-archive-keyring.gpg', join(root, 'usr/share/keyrings/debian-archive-keyring.gpg'));
  return root;
}

const recipe = (over: Partial<Recipe> = {}): Recipe =>
  makeRecipe({
    name: 'web',
    hostname: 'web1',
    steps: ['echo hi'],
    users: [
      { name: 'alice', uid: 1000, groups: ['sudo', 'docker'], shell: '/bin/bash', sshKeys: [KEY], password: { policy: 'locked' } },
      { name: 'bob', groups: [], shell: '/bin/bash', sshKeys: [], password: { policy: 'hash', hash: HASH } },
    ],
    repositories: [
      { name: 'extra', uri: 'https://example.org/apt', suite: 'stable', components: ['main'], key: join(base, 'repo.gpg'), enabled: false },
    ],
    ...over,
  });
const ctx = () => ({ sh: new Shell({ log: () => undefined }), config });
const read = (root: string, p: string) => readFileSync(join(root, p), 'utf8');
const shadowRow = (root: string, name: string) => read(root, 'etc/shadow').split('\n').find((l) => l.startsWith(`${name}:`))?.split(':');

const snapshot = snapshotContents;

test('systemd mechanism: accounts, keys, sources, hostname, script and unit link', async () => {
  if (!isRoot) return console.log('  (skipped: chown needs root)');
  const root = fakeRoot();
  const report = await injectFirstBoot(ctx(), root, recipe(), 'web', { mirrorAccess: { kind: 'bind' } });

  // no usable password for root; alice locked, bob the configured hash
  assert.is(shadowRow(root, 'root')?.[1], '*');
  assert.is(shadowRow(root, 'alice')?.[1], '!');
  assert.is(shadowRow(root, 'bob')?.[1], HASH);
  assert.is(statSync(join(root, 'etc/shadow')).mode & 0o777, 0o640);
  assert.is(statSync(join(root, 'etc/shadow')).gid, 42);
  assert.match(read(root, 'etc/group'), /^sudo:x:27:alice$/m);
  assert.match(read(root, 'etc/group'), /^docker:x:999:alice$/m);
  assert.equal(report.createdGroups, ['docker']);
  assert.match(read(root, 'etc/passwd'), /^bob:x:1001:1001::\/home\/bob:\/bin\/bash$/m);

  // SSH key: 0600, owned by the user; ~/.ssh 0700; skel copied, symlinks in skel ignored
  const keys = statSync(join(root, 'home/alice/.ssh/authorized_keys'));
  assert.is(keys.mode & 0o777, 0o600);
  assert.is(keys.uid, 1000);
  assert.is(read(root, 'home/alice/.ssh/authorized_keys'), `${KEY}\n`);
  assert.is(statSync(join(root, 'home/alice/.ssh')).mode & 0o777, 0o700);
  assert.is(statSync(join(root, 'home/alice')).uid, 1000);
  assert.is(statSync(join(root, 'home/bob/.bashrc')).uid, 1001);
  assert.not.ok(existsSync(join(root, 'home/alice/.evil')));
  assert.is(statSync(join(root, 'home/alice', HOSTILE)).uid, 1000);
  assert.not.ok(existsSync(join(process.cwd(), 'pwned')) || existsSync(join(root, 'pwned')));

  // apt: .sources only, every one signed, keys in place
  assert.not.ok(existsSync(join(root, 'etc/apt/sources.list')));
  assert.equal(report.removed, ['/etc/apt/sources.list']);
  assert.equal(readdirSync(join(root, 'etc/apt/sources.list.d')).sort(), ['extra.sources', 'nspawn-kit-mirror.sources', 'nspawn-kit-upstream.sources']);
  assert.is(read(root, 'etc/apt/keyrings/nspawn-kit-mirror.asc'), readFileSync(join(config.mirror.root, 'mirror.asc'), 'utf8'));
  assert.equal(readFileSync(join(root, 'etc/apt/keyrings/extra.gpg')), readFileSync(join(base, 'repo.gpg')));
  assert.match(read(root, 'etc/apt/sources.list.d/nspawn-kit-upstream.sources'), /^Signed-By: \/usr\/share\/keyrings\/debian-archive-keyring\.gpg$/m);
  assert.match(read(root, 'etc/apt/sources.list.d/extra.sources'), /^Enabled: no$/m);
  for (const f of readdirSync(join(root, 'etc/apt/sources.list.d'))) {
    assert.match(read(root, `etc/apt/sources.list.d/${f}`), /^Signed-By: /m);
    assert.not.match(read(root, `etc/apt/sources.list.d/${f}`), /trusted/i);
  }
  assert.is(report.upstreamKeyring, '/usr/share/keyrings/debian-archive-keyring.gpg');

  // hostname
  assert.is(read(root, 'etc/hostname'), 'web1\n');
  assert.match(read(root, 'etc/hosts'), /^127\.0\.1\.1\tweb1$/m);

  // first boot: script 0755 with valid syntax, unit enabled by a link written in the root
  assert.is(statSync(join(root, FIRSTBOOT.script)).mode & 0o777, 0o755);
  assert.is(spawnSync('bash', ['-n', join(root, FIRSTBOOT.script)]).status, 0);
  assert.match(read(root, FIRSTBOOT.script), 'left to systemd-nspawn'); // host network: resolv.conf not linked
  assert.match(read(root, FIRSTBOOT.unit), /ConditionPathExists=/);
  assert.is(readlinkSync(join(root, 'etc/systemd/system/multi-user.target.wants/nspawn-kit-firstboot.service')), FIRSTBOOT.unit);
  assert.not.ok(existsSync(join(root, 'etc/rc.local')));
  assert.equal(report.warnings, []);

  // idempotent: a second run leaves the same accounts
  const before = read(root, 'etc/passwd') + read(root, 'etc/group');
  await injectFirstBoot(ctx(), root, recipe(), 'web', { mirrorAccess: { kind: 'bind' } });
  assert.is(read(root, 'etc/passwd') + read(root, 'etc/group'), before);
});

test('rc.local mechanism: executable /etc/rc.local, no unit link; http mirror access', async () => {
  if (!isRoot) return;
  const root = fakeRoot();
  const report = await injectFirstBoot(ctx(), root, recipe({ firstboot: 'rc.local', users: [] }), 'web', {
    mirrorAccess: { kind: 'http', url: 'http://10.0.0.1:8080/' },
  });
  assert.is(report.mechanism, 'rc.local');
  assert.is(statSync(join(root, 'etc/rc.local')).mode & 0o777, 0o755);
  assert.match(read(root, 'etc/rc.local'), new RegExp(`/bin/bash ${FIRSTBOOT.script} && rm -f`));
  assert.not.ok(existsSync(join(root, 'etc/systemd/system/multi-user.target.wants')));
  assert.match(read(root, 'etc/apt/sources.list.d/nspawn-kit-mirror.sources'), /^URIs: http:\/\/10\.0\.0\.1:8080\/$/m);
});

test('dry-run changes nothing in the root and plans the writes', async () => {
  if (!isRoot) return;
  const root = fakeRoot();
  const before = snapshot(root);
  const sh = new Shell({ dryRun: true, log: () => undefined });
  await injectFirstBoot({ sh, config }, root, recipe(), 'web', { mirrorAccess: { kind: 'bind' } });
  assert.equal(snapshot(root), before);
  assert.ok(sh.planned.some((l) => l.includes('etc/shadow')));
  assert.ok(sh.planned.some((l) => l.startsWith('chown -h -- 1000:1000')));
});

test('symlinks in the root never lead outside it', async () => {
  if (!isRoot) return;
  const root = fakeRoot();
  const outside = mkdtempSync(join(base, 'host-'));
  writeFileSync(join(outside, 'file'), 'host data\n');
  mkdirSync(join(outside, 'keyrings'));
  mkdirSync(join(outside, 'home'));
  rmSync(join(root, 'etc/hostname'), { force: true });
  symlinkSync(join(outside, 'file'), join(root, 'etc/hostname'));
  symlinkSync(join(outside, 'keyrings'), join(root, 'etc/apt/keyrings'));
  symlinkSync(`../../${outside.split('/').pop()}/home`, join(root, 'home/alice')); // escapes on the host, not in the root
  await injectFirstBoot(ctx(), root, recipe(), 'web', { mirrorAccess: { kind: 'bind' } });
  assert.is(readFileSync(join(outside, 'file'), 'utf8'), 'host data\n');
  assert.equal(readdirSync(join(outside, 'keyrings')), []);
  assert.equal(readdirSync(join(outside, 'home')), []);
  assert.ok(existsSync(join(root, outside.split('/').pop()!, 'home/.ssh/authorized_keys')));
  assert.is(read(root, 'etc/hostname'), 'web1\n');
  assert.not.ok(lstatSync(join(root, 'etc/hostname')).isSymbolicLink());
  // The absolute link resolves as the container sees it: under the root.
  assert.ok(existsSync(join(root, outside, 'keyrings/nspawn-kit-mirror.asc')));
  assert.is(await resolveInRoot(root, '/etc/apt/keyrings/x'), join(root, outside, 'keyrings/x'));
  assert.is(await resolveInRoot(root, '/../../etc/../bin/bash'), join(root, 'usr/bin/bash'));
});

test('a missing repository key names recipe, repository and path, and writes nothing', async () => {
  const root = fakeRoot();
  const before = snapshot(root);
  const missing = join(base, 'no-such-key.asc');
  const bad = recipe({
    name: 'qgis-box',
    repositories: [{ name: 'qgis', uri: 'https://qgis.org/debian', suite: 'bookworm', components: ['main'], key: missing, enabled: true }],
  });
  try {
    await injectFirstBoot(ctx(), root, bad, 'web', { mirrorAccess: { kind: 'bind' } });
    assert.unreachable('should throw');
  } catch (err) {
    assert.instance(err, OperationError);
    const msg = (err as Error).message;
    assert.ok(msg.includes('qgis-box') && msg.includes('repository qgis') && msg.includes(missing), msg);
  }
  assert.equal(snapshot(root), before);
});

test('a uid clash fails before anything is written', async () => {
  const root = fakeRoot();
  writeFileSync(join(root, 'etc/passwd'), read(root, 'etc/passwd') + 'carol:x:1000:1000::/home/carol:/bin/sh\n');
  const before = snapshot(root);
  await injectFirstBoot(ctx(), root, recipe(), 'web', { mirrorAccess: { kind: 'bind' } }).then(
    () => assert.unreachable('should throw'),
    (err: unknown) => assert.match((err as Error).message, /uid 1000 of user alice already belongs to carol/),
  );
  assert.equal(snapshot(root), before);
});

test('no distribution keyring in the root: upstream written disabled, with a warning', async () => {
  if (!isRoot) return;
  const root = fakeRoot();
  rmSync(join(root, 'usr/share/keyrings/debian-archive-keyring.gpg'));
  const report = await injectFirstBoot(ctx(), root, recipe({ users: [] }), 'web', { mirrorAccess: { kind: 'bind' } });
  assert.is(report.upstreamKeyring, undefined);
  assert.match(read(root, 'etc/apt/sources.list.d/nspawn-kit-upstream.sources'), /^Enabled: no$/m);
  assert.is(report.warnings.length, 1);
});

test.after(() => rmSync(base, { recursive: true, force: true }));
test.run();
