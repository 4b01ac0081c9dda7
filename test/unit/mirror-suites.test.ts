/**
 * The suite lists and the codename rule, each with one owner (mirror/suites.ts,
 * config/formats.ts): one set of rules for every reader and writer of a list,
 * and the schema, the mirror and the bootstrap argv agree on what a codename is.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Shell } from '../../src/shell.js';
import { OperationError } from '../../src/errors.js';
import { ArchiveSchema } from '../../src/config/schema.js';
import { bootstrapCommand, bootstrapSpec } from '../../src/rootfs/backends.js';
import { mirrorLayout, suiteListPath } from '../../src/mirror/layout.js';
import { addToSuite, assertCodename, isPoolPath, listSuites, readSuite, removeFromSuite, suitesToPublish, writeSuite } from '../../src/mirror/suites.js';
import { makeConfig, makeRecipe } from '../helpers/config.js';

const base = mkdtempSync(join(tmpdir(), 'nk-suites-'));
const layout = mirrorLayout(makeConfig(base));
const sh = new Shell({ log: () => undefined });
const list = suiteListPath(layout, 'bookworm');
const A = 'pool/main/a/a/a_1_amd64.deb';
const B = 'pool/main/b/b/b_1_all.deb';
const C = 'pool/main/c/c/c_1_amd64.deb';

function setList(text: string): void {
  mkdirSync(layout.suites, { recursive: true });
  writeFileSync(list, text);
}

async function failure(p: Promise<unknown>): Promise<OperationError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.instance(err, OperationError);
  return err as OperationError;
}

test.after(() => rmSync(base, { recursive: true, force: true }));

test('codename: one rule for the schema, the mirror and the bootstrap argv', () => {
  const cases: Array<[string, boolean]> = [
    ['bookworm', true],
    ['trixie', true],
    ['jammy-updates', true],
    ['ab', true],
    ['a'.repeat(32), true],
    ['a'.repeat(33), false],
    ['a', false],
    ['Bookworm', false],
    ['book_worm', false],
    ['9ubuntu', false],
    ['-bookworm', false],
    ['bookworm\n', false],
    ['../etc', false],
    ['', false],
  ];
  const paths = { architecture: 'amd64', target: '/t', mirrorRoot: '/m', keyring: '/k.gpg' };
  for (const [codename, ok] of cases) {
    const what = JSON.stringify(codename);
    assert.is(ArchiveSchema.safeParse({ path: '/srv/debs', codename }).success, ok, `schema ${what}`);
    assert.is(
      (() => {
        try {
          assertCodename(codename);
          return true;
        } catch {
          return false;
        }
      })(),
      ok,
      `mirror ${what}`,
    );
    assert.is(
      (() => {
        try {
          bootstrapCommand(bootstrapSpec(makeRecipe({ codename }), paths));
          return true;
        } catch {
          return false;
        }
      })(),
      ok,
      `bootstrap ${what}`,
    );
  }
});

test('pool paths: pool/main/, printable ASCII without spaces, no empty, "." or ".." component, .deb', () => {
  for (const ok of [A, 'pool/main/libf/libfoo/libfoo1_1.0~rc1+dfsg-1_amd64.deb', 'pool/main/h/x/--version_1_amd64.deb', 'pool/main/h/x/$(touch${IFS}x)_1_amd64.deb', 'pool/main/x.deb']) {
    assert.ok(isPoolPath(ok), ok);
  }
  for (const bad of [
    'pool/main/../../etc/passwd.deb',
    'pool/main/./a.deb',
    'pool/main/a//a.deb',
    '/pool/main/a/a.deb',
    'pool/contrib/a/a.deb',
    'dists/x.deb',
    'pool/main/a/a.txt',
    'pool/main/a/a b.deb',
    'pool/main/a/a\tb.deb',
    'pool/main/a/\u001b[2J.deb',
    'pool/main/a/\u00e9.deb',
    'pool/main/x.deb\npool/main/y.deb',
    'pool/main/x.deb\r',
  ]) {
    assert.not.ok(isPoolPath(bad), JSON.stringify(bad));
  }
});

test('a missing list has no members, or is an error where members are required', async () => {
  rmSync(layout.suites, { recursive: true, force: true });
  assert.equal(await readSuite(layout, 'bookworm'), []);
  assert.equal(await listSuites(layout), []);
  const err = await failure(readSuite(layout, 'bookworm', { required: true }));
  assert.is(err.message, `no suite list for bookworm (${list})`);
  assert.is(err.hint, 'Import packages for bookworm first: nspawn-kit mirror import.');
});

test('written sorted in byte order and unique, only when it changes; read back the same', async () => {
  rmSync(layout.suites, { recursive: true, force: true });
  assert.is(await writeSuite(sh, layout, 'bookworm', [C, A, B, A]), true);
  assert.is(readFileSync(list, 'utf8'), `${A}\n${B}\n${C}\n`);
  assert.is(await writeSuite(sh, layout, 'bookworm', [A, B, C]), false);
  assert.equal(await readSuite(layout, 'bookworm'), [A, B, C]);
  assert.equal(await removeFromSuite(sh, layout, 'bookworm', [B, 'pool/main/z/z/z_1_amd64.deb']), [B]);
  assert.equal(await addToSuite(sh, layout, 'bookworm', [A, B]), [B]);
  assert.is(readFileSync(list, 'utf8'), `${A}\n${B}\n${C}\n`);
  assert.is(await writeSuite(sh, layout, 'bookworm', []), true);
  assert.is(readFileSync(list, 'utf8'), '');
  assert.equal(await readSuite(layout, 'bookworm'), []);
});

test('a list in another order, with duplicates or blank lines, is read sorted and unique', async () => {
  setList(`${C}\n\n${A}\n${C}\n   \n${B}`);
  assert.equal(await readSuite(layout, 'bookworm'), [A, B, C]);
});

test('a line the writer would not write is an error naming the file and the line; nothing is rewritten', async () => {
  for (const line of ['# comment', ` ${A}`, `${A}\r`, 'pool/main/../../etc/shadow.deb', 'pool/main/a/\u001b[2J.deb']) {
    const text = `${A}\n${line}\n${C}\n`;
    setList(text);
    for (const attempt of [() => readSuite(layout, 'bookworm'), () => addToSuite(sh, layout, 'bookworm', [B]), () => removeFromSuite(sh, layout, 'bookworm', [A])]) {
      const err = await failure(attempt());
      assert.is(err.message, `${list} holds lines that are not pool paths: ${JSON.stringify(line)}`);
      assert.match(err.hint ?? '', /^nspawn-kit alone writes this list, .*: remove those lines \(or restore the file\), then run the command again\.$/);
    }
    assert.is(readFileSync(list, 'utf8'), text, JSON.stringify(line));
  }
});

test('the writer refuses what is not a pool path, and a codename that is not one', async () => {
  setList(`${A}\n`);
  const err = await failure(writeSuite(sh, layout, 'bookworm', [A, 'pool/main/a b.deb']));
  assert.is(err.message, 'refusing to write suite bookworm: not pool paths: "pool/main/a b.deb"');
  assert.is((await failure(writeSuite(sh, layout, '../etc', [A]))).message, 'invalid codename "../etc"');
  assert.is((await failure(readSuite(layout, 'Bookworm'))).message, 'invalid codename "Bookworm"');
  assert.is(readFileSync(list, 'utf8'), `${A}\n`);
});

test('listSuites: the codenames with a <codename>.list, sorted; other files are not suites', async () => {
  rmSync(layout.suites, { recursive: true, force: true });
  mkdirSync(layout.suites, { recursive: true });
  for (const name of ['trixie.list', 'bookworm.list', 'Bad.list', 'x.list', 'jammy.list.tmp', 'notes.txt', 'sid.list']) writeFileSync(join(layout.suites, name), '');
  assert.equal(await listSuites(layout), ['bookworm', 'sid', 'trixie']);
});

test('suitesToPublish: a release brings its family; backports, proposed-updates and sid bring no invented update suites', async () => {
  rmSync(layout.suites, { recursive: true, force: true });
  mkdirSync(layout.suites, { recursive: true });
  for (const name of ['bookworm-backports.list', 'bookworm-proposed-updates.list', 'sid.list', 'trixie-security.list']) writeFileSync(join(layout.suites, name), '');
  assert.equal(await suitesToPublish(layout), ['bookworm-backports', 'bookworm-proposed-updates', 'sid', 'trixie', 'trixie-security', 'trixie-updates']);
});

test.run();
