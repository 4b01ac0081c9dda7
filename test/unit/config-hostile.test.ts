/**
 * Hostile recipe and configuration strings, through the real `nspawn-kit
 * config`: every value that would change the shape of a file (passwd, hosts,
 * deb822, .nspawn, the first-boot script) or grant root is refused with exit
 * 2 and its key path, before anything is built or written.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from '../helpers/cli.js';

const ABS = 'expected an absolute path of letters, digits and "._+@=,~-" (no ":", spaces, quotes, backslashes or control characters)';

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'nk-hostile-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs `nspawn-kit config` on this configuration; returns exit code and the problem lines. */
function config(dir: string, cfg: unknown): { code: number | null; problems: string[]; stderr: string } {
  writeFileSync(join(dir, '.nspawnrc.json'), JSON.stringify(cfg));
  const r = cli(['--config', '.nspawnrc.json', 'config'], { cwd: dir });
  const problems = r.stderr
    .split('\n')
    .filter((l) => l.startsWith('  - '))
    .map((l) => l.slice(4));
  return { code: r.code, problems, stderr: r.stderr };
}

test('strings that would add lines or fields, root, uid 0 and root-equivalent groups: all reported at once, nothing written', () => {
  withDir((dir) => {
    const state = join(dir, 'state');
    const r = config(dir, {
      stateDir: state,
      mirror: { root: join(dir, 'mirror') },
      recipes: {
        evil: {
          hostname: 'evil\nhost',
          steps: ['echo ok', 'echo \u0000'],
          users: [
            { name: 'mallory', shell: '/bin/bash\nevil::0:0::/root:/bin/bash' },
            { name: 'root' },
            { name: 'eve', uid: 0 },
            { name: 'trudy', groups: ['sudo', 'shadow', 'disk'] },
            { name: 'carol', gecos: 'Carol:0:0', home: '/home/carol:x' },
            { name: 'dave', home: '/etc' },
            { name: 'shadow' },
          ],
          repositories: [{ name: 'x', uri: 'https://e.org/a b', suite: 'stable\nTrusted: yes', signedBy: '/k:y' }],
          nspawn: { binds: ['/srv/x:/y:rbind\nPrivateUsers=no', '/srv/a:/b:/c:/d', 'relative'] },
        },
      },
    });
    assert.is(r.code, 2, r.stderr);
    const at = '.nspawnrc.json: recipes.evil';
    assert.equal(r.problems, [
      `${at}.repositories[0].uri: expected a URL (http://, https://, file://) (got "https://e.org/a b")`,
      `${at}.repositories[0].suite: expected a suite like "bookworm" or "jammy-updates" (letters, digits and "._~+/-") (got "stable\\nTrusted: yes")`,
      `${at}.repositories[0].signedBy: ${ABS} (got "/k:y")`,
      `${at}.hostname: expected a host name (RFC 1123): labels of letters, digits and "-" separated by ".", not starting or ending with "-", at most 64 characters (got "evil\\nhost")`,
      `${at}.users[0].shell: ${ABS} (got "/bin/bash\\nevil::0:0::/root:/bin/bash")`,
      `${at}.users[1].name: a recipe user may not be "root": root stays locked; add a normal user with the groups it needs (e.g. "sudo") (got "root")`,
      `${at}.users[2].uid: expected a uid from 1000 to 60000: ids below 1000 belong to root (0) and system accounts, above 60000 are reserved (got 0)`,
      `${at}.users[3].groups[1]: group shadow reads every password hash in /etc/shadow; use "sudo" for administrators (got "shadow")`,
      `${at}.users[3].groups[2]: group disk writes raw block devices: membership is root-equivalent; use "sudo" for administrators (got "disk")`,
      `${at}.users[4].home: ${ABS} (got "/home/carol:x")`,
      `${at}.users[4].gecos: must not contain ":" (the field separator of /etc/passwd) (got "Carol:0:0")`,
      `${at}.users[5].home: expected a directory under /home or /srv: the home is created and given to the user, so a system directory would become theirs (got "/etc")`,
      `${at}.users[6].name: a user named "shadow" would get group shadow as its primary group (group shadow reads every password hash in /etc/shadow) (got "shadow")`,
      `${at}.steps[1]: must not contain control characters other than newline and tab (got "echo \\u0000")`,
      `${at}.nspawn.binds[0]: must be one line without control characters (got "/srv/x:/y:rbind\\nPrivateUsers=no")`,
      `${at}.nspawn.binds[1]: expected "/host/path[:/container/path[:options]]" (":" separates the fields, so paths may not contain one) (got "/srv/a:/b:/c:/d")`,
      `${at}.nspawn.binds[2]: host path "relative": ${ABS} (got "relative")`,
    ]);
    // The hostile values are quoted in the report: no forged line reaches the terminal.
    assert.not.ok(r.stderr.split('\n').some((l) => l.startsWith('evil') || l.startsWith('Trusted') || l.startsWith('PrivateUsers')), r.stderr);
    assert.not.ok(existsSync(state));
  });
});

test('binds of /, /etc, /root, /boot, /var/lib/nspawn-kit, the stateDir (also through a symlink) and machine dirs are refused, saying why', () => {
  withDir((dir) => {
    const state = join(dir, 'state');
    const machines = join(dir, 'machines');
    mkdirSync(state);
    symlinkSync(state, join(dir, 'statelink'));
    mkdirSync(join(dir, 'recipes'));
    // A recipe file: its problems name the file and the key path inside it.
    writeFileSync(join(dir, 'recipes', 'filed.json'), JSON.stringify({ users: [{ name: 'mallory', shell: '/bin/sh\nroot2::0:0::/:/bin/sh' }] }));
    const r = config(dir, {
      stateDir: state,
      mirror: { root: join(dir, 'mirror') },
      machines: { dir: machines },
      recipeDirs: ['recipes'],
      recipes: {
        binder: {
          nspawn: {
            binds: ['/etc', '/', '/var', `${dir}/mirror/pool`, '/srv/data:/data', '/home/alice:/home/alice:norbind'],
            bindsReadOnly: [state, `${dir}/statelink/gnupg`, '/root/.ssh', '/boot', `${dir}/mirror`, '/var/lib/nspawn-kit', `${machines}/other`, '/etc/ssh'],
          },
        },
      },
    });
    assert.is(r.code, 2, r.stderr);
    const at = `${dir}/.nspawnrc.json: recipes.binder.nspawn`;
    const never = 'must not be reachable from a container';
    assert.equal(r.problems, [
      `${dir}/recipes/filed.json: users[0].shell: ${ABS} (got "/bin/sh\\nroot2::0:0::/:/bin/sh")`,
      `${at}.binds[0]: host path /etc: the host configuration (password hashes, SSH host keys, sudoers) ${never}`,
      `${at}.binds[1]: binding the host's whole file system ("/") gives the container the host; bind only the directories it needs`,
      `${at}.binds[2]: host path /var contains /var/lib/nspawn-kit: nspawn-kit's state (the secret signing key) ${never}`,
      `${at}.binds[3]: host path ${dir}/mirror/pool is inside ${dir}/mirror: the published mirror (mirror.root; it is bound read-only already) ${never}`,
      `${at}.bindsReadOnly[0]: host path ${state}: nspawn-kit's state (stateDir: the secret signing key) ${never}`,
      `${at}.bindsReadOnly[1]: host path ${dir}/statelink/gnupg is inside ${state}: nspawn-kit's state (stateDir: the secret signing key) ${never}`,
      `${at}.bindsReadOnly[2]: host path /root/.ssh is inside /root: root's home (its SSH keys and history) ${never}`,
      `${at}.bindsReadOnly[3]: host path /boot: the host kernel and boot loader ${never}`,
      `${at}.bindsReadOnly[5]: host path /var/lib/nspawn-kit: nspawn-kit's state (the secret signing key) ${never}`,
      `${at}.bindsReadOnly[6]: host path ${machines}/other is inside ${machines}: the other machines and their trusted .nspawn files (machines.dir) ${never}`,
      `${at}.bindsReadOnly[7]: host path /etc/ssh is inside /etc: the host configuration (password hashes, SSH host keys, sudoers) ${never}`,
    ]);
  });
});

test('a stateDir inside mirror.root (the signing key would be served) and a mirror.root inside stateDir are refused', () => {
  withDir((dir) => {
    mkdirSync(join(dir, 'state'));
    symlinkSync(join(dir, 'state'), join(dir, 'statelink'));
    const cases: Array<[unknown, string]> = [
      [
        { stateDir: `${dir}/mirror/state`, mirror: { root: `${dir}/mirror` } },
        `.nspawnrc.json: stateDir: is inside mirror.root (${dir}/mirror): the secret signing key in stateDir would be served with the mirror; put stateDir outside mirror.root`,
      ],
      [
        { stateDir: `${dir}/state`, mirror: { root: `${dir}/state/pub` } },
        `.nspawnrc.json: mirror.root: is inside stateDir (${dir}/state): the published mirror would sit among the private state (the secret signing key, records, locks); put mirror.root outside stateDir`,
      ],
      [
        // Normalised and through a symlink: the same directory.
        { stateDir: `${dir}/statelink`, mirror: { root: `${dir}/state/pub/..` } },
        `.nspawnrc.json: stateDir: is the same directory as mirror.root (${dir}/state): the secret signing key in stateDir would be served with the mirror; give them separate directories`,
      ],
      [
        // A symlink above a directory that does not exist yet still counts.
        { stateDir: `${dir}/statelink/keys`, mirror: { root: `${dir}/state` } },
        `.nspawnrc.json: stateDir: is inside mirror.root (${dir}/state): the secret signing key in stateDir would be served with the mirror; put stateDir outside mirror.root`,
      ],
    ];
    for (const [cfg, line] of cases) {
      const r = config(dir, cfg);
      assert.is(r.code, 2, r.stderr);
      assert.equal(r.problems, [line]);
    }
    const ok = config(dir, { stateDir: `${dir}/state`, mirror: { root: `${dir}/mirror` } });
    assert.is(ok.code, 0, ok.stderr);
  });
});

test('through `nspawn-kit config`: writable binds of the default archive, /proc/self/cwd/etc (from a cwd with no etc) and /sys are refused; the archive read-only is fine', () => {
  withDir((dir) => {
    // cwd is dir, which has no etc/: this process would resolve /proc/self/cwd/etc to a harmless path.
    const r = config(dir, {
      stateDir: join(dir, 'state'),
      mirror: { root: join(dir, 'mirror') },
      recipes: {
        sharer: {
          nspawn: {
            binds: ['/var/cache/apt/archives:/var/cache/apt/archives', '/proc/self/cwd/etc:/hostetc', '/var/cache/apt'],
            bindsReadOnly: ['/var/cache/apt/archives:/mnt/host-debs', '/sys/firmware'],
          },
        },
      },
    });
    assert.is(r.code, 2, r.stderr);
    const at = `${dir}/.nspawnrc.json: recipes.sharer.nspawn`;
    const kernel = (tree: string) =>
      `${tree} is the kernel's view of processes, settings and devices, which systemd-nspawn resolves differently than this check (e.g. /proc/self); /proc, /sys and /dev must not be bound into a container`;
    const archive = /: a mirror archive directory \(mirror\.archives, codename [a-z]+\): \.debs a container wrote there would be imported as the admin's own packages and signed; bind it read-only \(nspawn\.bindsReadOnly\) if the container needs it$/;
    assert.is(r.problems.length, 4, r.stderr);
    assert.ok(r.problems[0]?.startsWith(`${at}.binds[0]: host path /var/cache/apt/archives: a mirror archive`), r.problems[0]);
    assert.match(r.problems[0] ?? '', archive);
    assert.is(r.problems[1], `${at}.binds[1]: host path /proc/self/cwd/etc is inside /proc: ${kernel('/proc')}`);
    assert.ok(r.problems[2]?.startsWith(`${at}.binds[2]: host path /var/cache/apt contains /var/cache/apt/archives: a mirror archive`), r.problems[2]);
    assert.match(r.problems[2] ?? '', archive);
    assert.is(r.problems[3], `${at}.bindsReadOnly[1]: host path /sys/firmware is inside /sys: ${kernel('/sys')}`);
  });
});

test.run();
