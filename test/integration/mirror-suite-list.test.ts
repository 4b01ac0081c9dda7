/**
 * A suite list is read by one reader with one set of rules (mirror/suites.ts):
 * a line nspawn-kit would not have written (here a comment and a path out of
 * the pool, as a hand edit or damage leaves them) stops import, publish and gc
 * alike with the file and the line named, and loses nothing: the list is not
 * rewritten and the previous publication stays live. Through the real CLI,
 * apt-ftparchive and gpg.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cliMirror } from '../helpers/mirror-cli.js';
import { makeDeb } from '../helpers/debs.js';

const { base, archives, root, state, run } = cliMirror('nk-suite-list-');
const list = join(state, 'mirror/suites/bookworm.list');
const inRelease = join(root, 'dists/bookworm/InRelease');

test.after(() => {
  execFileSync('gpgconf', ['--homedir', join(state, 'gnupg'), '--kill', 'all'], { stdio: 'ignore' });
  rmSync(base, { recursive: true, force: true });
});

test('a hand-edited suite list stops import, publish and gc with the file and lines named; nothing is lost', () => {
  makeDeb(archives, { name: 'hello' });
  const imp = run('mirror', 'import');
  assert.is(imp.code, 0, imp.stdout + imp.stderr);
  const pub = run('mirror', 'publish');
  assert.is(pub.code, 0, pub.stdout + pub.stderr);
  assert.is(readFileSync(list, 'utf8'), 'pool/main/h/hello/hello_1.0-1_amd64.deb\n');
  const published = readFileSync(inRelease);

  const edited = '# kept by hand\npool/main/h/hello/hello_1.0-1_amd64.deb\npool/main/../../../etc/shadow.deb\n';
  writeFileSync(list, edited);
  makeDeb(archives, { name: 'world' });
  const expected = [
    `nspawn-kit: ${list} holds lines that are not pool paths: "# kept by hand", "pool/main/../../../etc/shadow.deb"`,
    '  → nspawn-kit alone writes this list, one pool path (pool/main/.../name_version_arch.deb) per line: remove those lines (or restore the file), then run the command again.',
  ];
  for (const args of [['mirror', 'import'], ['mirror', 'publish'], ['mirror', 'gc']]) {
    const r = run(...args);
    assert.is(r.code, 1, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    const lines = r.stderr.split('\n');
    const at = lines.indexOf(expected[0]!);
    assert.ok(at >= 0, `${args.join(' ')}: ${r.stderr}`);
    assert.is(lines[at + 1], expected[1]);
    assert.is(readFileSync(list, 'utf8'), edited, `${args.join(' ')} left the list as it was`);
    assert.equal(readFileSync(inRelease), published, `${args.join(' ')} left the publication live`);
  }

  // Mended by hand as the hint says: everything goes on, the new package included.
  writeFileSync(list, 'pool/main/h/hello/hello_1.0-1_amd64.deb\n');
  const again = run('mirror', 'import');
  assert.is(again.code, 0, again.stdout + again.stderr);
  const republish = run('mirror', 'publish');
  assert.is(republish.code, 0, republish.stdout + republish.stderr);
  assert.is(readFileSync(list, 'utf8'), 'pool/main/h/hello/hello_1.0-1_amd64.deb\npool/main/w/world/world_1.0-1_amd64.deb\n');
  const names = [...readFileSync(join(root, 'dists/bookworm/main/binary-amd64/Packages'), 'utf8').matchAll(/^Package: (.*)$/gm)].map((m) => m[1]);
  assert.equal(names.sort(), ['hello', 'world']);
});

test.run();
