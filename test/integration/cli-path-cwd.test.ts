/**
 * No tool is looked up in the working directory: an empty or relative entry
 * in the caller's PATH (":/usr/bin", ".") would make every spawn by name
 * (gpg normalising a recipe's key, apt-get, debootstrap) find a ./gpg there first, as root.
 * The entry points keep only the absolute entries (host/tool-path.ts
 * sanitizeProcessPath); the CLI and a hook are run from a directory holding
 * tools that leave a marker if they ever run.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { cli, cliEnv, ROOT } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'nk-path-cwd-'));
const marker = join(dir, 'PWNED');
for (const tool of ['gpg', 'debootstrap', 'apt-ftparchive', 'dpkg-deb', 'systemd-nspawn', 'xz']) {
  writeFileSync(join(dir, tool), `#!/bin/sh\necho "$0 $*" >>'${marker}'\necho 'fake 9.9'\n`);
  chmodSync(join(dir, tool), 0o755);
}
test.after(() => rmSync(dir, { recursive: true, force: true }));

const node = dirname(process.execPath);
// A recipe with a repository key: loading it normalises the key with `gpg`, spawned by name.
const configDir = join(dir, 'etc');
mkdirSync(join(configDir, 'recipes.d'), { recursive: true, mode: 0o755 });
chmodSync(configDir, 0o755);
writeFileSync(join(configDir, 'recipes.d', 'keyed.json'), JSON.stringify({ extends: 'bookworm-minimal', repositories: [{ name: 'x', uri: 'http://127.0.0.1:9/debian', suite: 'bookworm', components: ['main'], key: 'k.asc' }] }));
// Armored in form (so it reaches gpg), not a key in substance: the real gpg refuses it.
writeFileSync(join(configDir, 'recipes.d', 'k.asc'), '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nbm90IGEga2V5\n-----END PGP PUBLIC KEY BLOCK-----\n');

for (const path of [`:${node}:/usr/sbin:/usr/bin:/sbin:/bin`, `.:${node}:/usr/sbin:/usr/bin:/sbin:/bin`, `${node}:/usr/sbin:/usr/bin:/sbin:/bin:`]) {
  test(`PATH=${JSON.stringify(path.replace(node, 'NODE'))}, run from a directory of fake tools: the key is read by the real gpg, no fake runs`, () => {
    rmSync(marker, { force: true });
    const r = cli(['config', '--recipe', 'keyed'], { cwd: dir, env: { PATH: path, NSPAWN_KIT_CONFIG_DIR: configDir } });
    assert.not.ok(existsSync(marker), existsSync(marker) ? `ran: ${readFileSync(marker, 'utf8')}` : '');
    // The real gpg judged the bytes (the fake would have printed "fake 9.9" and imported nothing either, but left the marker).
    assert.is(r.code, 2, r.stderr);
    assert.match(r.stderr, /k\.asc holds no OpenPGP public key that gpg can import/);
  });
}

test('a hook started from that directory with PATH=":…" runs no fake tool either', () => {
  rmSync(marker, { force: true });
  const r = spawnSync(join(ROOT, 'hooks', 'reindex-on-deb.mjs'), ['--help'], { cwd: dir, encoding: 'utf8', env: cliEnv({ PATH: `:${node}:/usr/sbin:/usr/bin:/sbin:/bin` }) });
  assert.is(r.status, 0, r.stderr);
  assert.not.ok(existsSync(marker), 'a fake tool ran');
});

test.run();
