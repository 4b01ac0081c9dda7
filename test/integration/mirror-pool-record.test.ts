/**
 * The record of what the importer validated (<stateDir>/mirror/pool-index.json)
 * is what publish checks every index entry against before signing. It is not
 * under cache/ (dropping the caches must not cost a re-validation of the whole
 * pool), an older mirror's record under cache/ is still read, and a file that
 * publish had to validate itself is recorded, so it is validated once.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { cliMirror } from '../helpers/mirror-cli.js';
import { makeDeb } from '../helpers/debs.js';

const { base, archives, root, state, run } = cliMirror('nk-poolrec-');
const record = join(state, 'mirror/pool-index.json');
const legacy = join(state, 'mirror/cache/pool-index.json');
const entries = (path: string) => (JSON.parse(readFileSync(path, 'utf8')) as { files: Record<string, { name: string; sha256: string }> }).files;
const sha256 = (rel: string) => createHash('sha256').update(readFileSync(join(root, rel))).digest('hex');

test.after(() => {
  execFileSync('gpgconf', ['--homedir', join(state, 'gnupg'), '--kill', 'all'], { stdio: 'ignore' });
  rmSync(base, { recursive: true, force: true });
});

test('the validation record lives beside the suite lists, survives dropping cache/, and publish records what it validated itself', () => {
  for (const name of ['rec1', 'rec2']) makeDeb(archives, { name });
  assert.is(run('mirror', 'import').code, 0);
  assert.ok(existsSync(record), 'import writes the record in <stateDir>/mirror');
  assert.not.ok(existsSync(legacy), 'nothing under cache/');
  const imported = entries(record);
  const rels = Object.keys(imported).sort();
  assert.equal(rels.map((r) => imported[r]?.name), ['rec1', 'rec2']);
  for (const rel of rels) assert.is(imported[rel]?.sha256, sha256(rel), rel);

  // Dropping the caches (apt-ftparchive's db) keeps the record.
  rmSync(join(state, 'mirror/cache'), { recursive: true, force: true });
  const first = run('mirror', 'publish');
  assert.is(first.code, 0, first.stderr);
  assert.equal(entries(record), imported);

  // An older mirror kept it under cache/: read from there.
  mkdirSync(join(state, 'mirror/cache'), { recursive: true });
  renameSync(record, legacy);
  const fromLegacy = run('mirror', 'publish');
  assert.is(fromLegacy.code, 0, fromLegacy.stderr);
  assert.is(run('mirror', 'verify').code, 0);

  // No record at all: publish validates the pool files itself, signs, and records them.
  rmSync(legacy);
  const rebuilt = run('mirror', 'publish');
  assert.is(rebuilt.code, 0, rebuilt.stderr);
  const after = entries(record);
  assert.equal(Object.keys(after).sort(), rels);
  for (const rel of rels) {
    assert.is(after[rel]?.sha256, sha256(rel), rel);
    assert.is(after[rel]?.name, imported[rel]?.name, rel);
  }
  assert.is(run('mirror', 'verify').code, 0);
});

test.run();
