/**
 * Hostile recipe users against a fake root made at test time: injection
 * (the second line of defence, behind the schema) writes /etc/passwd with
 * exactly the expected lines, and refuses a user whose shell, gecos or home
 * would add a line or field, leaving every file of the root as it was.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeConfig, makeRecipe } from '../helpers/config.js';
import { exportKey, stopAgent, testKeyring } from '../helpers/gpg.js';
import { Shell } from '../../src/shell.js';
import { OperationError } from '../../src/errors.js';
import type { User } from '../../src/config/schema.js';
import { injectFirstBoot } from '../../src/machine/inject.js';
import { snapshotContents } from '../helpers/tree.js';

const isRoot = process.getuid?.() === 0;
const base = mkdtempSync(join(tmpdir(), 'nk-inject-hostile-'));
const config = makeConfig(base);
const PASSWD = 'root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n';

{
  const env = testKeyring(base, 'gnupg');
  mkdirSync(config.mirror.root, { recursive: true });
  writeFileSync(join(config.mirror.root, 'mirror.asc'), exportKey(env, true));
  stopAgent(env);
}

let n = 0;
function fakeRoot(): string {
  const root = join(base, `root${++n}`);
  for (const d of ['etc/apt/sources.list.d', 'etc/skel', 'usr/bin', 'usr/lib', 'home', 'srv']) mkdirSync(join(root, d), { recursive: true });
  symlinkSync('usr/bin', join(root, 'bin'));
  writeFileSync(join(root, 'usr/bin/bash'), '');
  writeFileSync(join(root, 'etc/passwd'), PASSWD);
  writeFileSync(join(root, 'etc/shadow'), 'root:*:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n', { mode: 0o640 });
  writeFileSync(join(root, 'etc/group'), 'root:x:0:\ndaemon:x:1:\nsudo:x:27:\nshadow:x:42:\ndisk:x:6:\n');
  writeFileSync(join(root, 'usr/lib/os-release'), 'ID=debian\n');
  return root;
}

const snapshot = snapshotContents;

const user = (over: Partial<User>): User => ({ name: 'alice', groups: [], shell: '/bin/bash', sshKeys: [], password: { policy: 'locked' }, ...over });
const inject = (root: string, users: User[]) =>
  injectFirstBoot({ sh: new Shell({ log: () => undefined }), config }, root, makeRecipe({ name: 'web', hostname: 'web1', users }), 'web', {
    mirrorAccess: { kind: 'bind' },
    now: new Date('2026-01-02T00:00:00Z'),
  });

test('/etc/passwd gets exactly one line per recipe user, gecos and home as fields', async () => {
  if (!isRoot) return console.log('  (skipped: chown needs root)');
  const root = fakeRoot();
  await inject(root, [user({ gecos: 'Alice Liddell,,,', groups: ['sudo'] }), user({ name: 'bob', home: '/srv/bob', shell: '/usr/bin/bash' })]);
  assert.is(
    readFileSync(join(root, 'etc/passwd'), 'utf8'),
    `${PASSWD}alice:x:1000:1000:Alice Liddell,,,:/home/alice:/bin/bash\nbob:x:1001:1001::/srv/bob:/usr/bin/bash\n`,
  );
  assert.is(lstatSync(join(root, 'srv/bob')).uid, 1001);
  assert.match(readFileSync(join(root, 'etc/group'), 'utf8'), /^sudo:x:27:alice$/m);
});

test('a shell with a newline (an extra uid-0 account), ":" in gecos or home, root-equivalent groups: refused, the root untouched', async () => {
  if (!isRoot) return console.log('  (skipped: chown needs root)');
  const hostile: Array<[Partial<User>, string]> = [
    [{ shell: '/bin/bash\nevil::0:0::/root:/bin/bash' }, 'recipe user "alice": shell: expected an absolute path of letters'],
    [{ gecos: 'x:0:0:' }, 'recipe user "alice": gecos: must not contain ":" (the field separator of /etc/passwd)'],
    [{ home: '/home/a:0' }, 'recipe user "alice": home: expected an absolute path of letters'],
    [{ home: '/etc' }, 'recipe user "alice": home: expected a directory under /home or /srv'],
    [{ groups: ['sudo', 'shadow'] }, 'recipe user "alice": group shadow: group shadow reads every password hash in /etc/shadow'],
    [{ groups: ['disk'] }, 'recipe user "alice": group disk: group disk writes raw block devices'],
    [{ uid: 0 }, 'recipe user "alice": uid: expected 1000-60000'],
    [{ name: 'root' }, 'a recipe user may not be "root"'],
    [{ name: 'daemon' }, 'user daemon already exists in the root with uid 1, a system account'],
  ];
  for (const [over, message] of hostile) {
    const root = fakeRoot();
    const before = snapshot(root);
    try {
      await inject(root, [user(over)]);
      assert.unreachable(`${JSON.stringify(over)} was injected`);
    } catch (err) {
      assert.instance(err, OperationError, String(err));
      assert.ok((err as Error).message.startsWith(message), `${JSON.stringify(over)}: ${(err as Error).message}`);
    }
    assert.equal(snapshot(root), before, `${JSON.stringify(over)} changed the root`);
    assert.is(readFileSync(join(root, 'etc/passwd'), 'utf8'), PASSWD);
  }
});

test.after(() => rmSync(base, { recursive: true, force: true }));
test.run();
