/**
 * A pool index (<stateDir>/mirror/pool-index.json, what publish signs
 * against) that is not valid is not trusted: publish stops before signing,
 * naming the file and the wrong field, leaves the previous publication and
 * the record as they were, and says how to go on (move it aside: publish then
 * validates every pool file itself and writes a new record).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cliMirror } from '../helpers/mirror-cli.js';
import { makeDeb } from '../helpers/debs.js';

const { base, archives, root, state, run } = cliMirror('nk-poolbad-');
const record = join(state, 'mirror/pool-index.json');
const inRelease = join(root, 'dists/bookworm/InRelease');
const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

test.after(() => {
  execFileSync('gpgconf', ['--homedir', join(state, 'gnupg'), '--kill', 'all'], { stdio: 'ignore' });
  rmSync(base, { recursive: true, force: true });
});

test('a corrupt pool index stops publish, changes nothing, and moved aside is rebuilt by validating the pool', () => {
  makeDeb(archives, { name: 'badrec' });
  assert.is(run('mirror', 'import').code, 0);
  const first = run('mirror', 'publish');
  assert.is(first.code, 0, first.stderr);
  const published = readFileSync(inRelease);
  const good = JSON.parse(readFileSync(record, 'utf8')) as { version: 1; files: Record<string, { sha256: string; name: string }> };
  const [rel] = Object.keys(good.files);
  assert.is(rel, 'pool/main/b/badrec/badrec_1.0-1_amd64.deb');
  const poolFile = join(root, rel!);

  // A wrong field (JSON that parses): named with the file; nothing signed, nothing rewritten.
  const wrong = JSON.stringify({ version: 1, files: { [rel!]: { ...good.files[rel!], sha256: 'not-a-hash' } } });
  writeFileSync(record, wrong);
  const refused = run('mirror', 'publish');
  assert.is(refused.code, 1, refused.stderr);
  assert.match(refused.stderr, `the pool index ${record} (what the importer validated, which publish signs against) is not valid; nothing in it is trusted, nothing was changed:`);
  assert.match(refused.stderr, `  - ${record}: files["${rel}"].sha256: expected a sha256 (64 lowercase hex digits) or "" (got "not-a-hash")`);
  assert.match(refused.stderr, `Move it aside (\`mv -- '${record}' '${record}.bad'\`) and run again`);
  assert.equal(readFileSync(inRelease), published, 'the previous publication stays');
  assert.is(readFileSync(record, 'utf8'), wrong, 'the record is left for inspection');

  // Cut short (not JSON): the same, and verify refuses to judge by it too.
  const cut = JSON.stringify(good).slice(0, 40);
  writeFileSync(record, cut);
  const truncated = run('mirror', 'publish');
  assert.is(truncated.code, 1, truncated.stderr);
  assert.match(truncated.stderr, `  - ${record}: not JSON (`);
  assert.equal(readFileSync(inRelease), published);
  assert.is(readFileSync(record, 'utf8'), cut);
  const verify = run('mirror', 'verify');
  assert.is(verify.code, 1, verify.stderr);
  assert.match(verify.stderr, `the pool index ${record}`);

  // Moved aside as the hint says: publish validates the pool file itself, signs, and records it.
  renameSync(record, `${record}.bad`);
  const rebuilt = run('mirror', 'publish');
  assert.is(rebuilt.code, 0, rebuilt.stderr);
  const after = JSON.parse(readFileSync(record, 'utf8')) as typeof good;
  assert.equal(Object.keys(after.files), [rel]);
  assert.is(after.files[rel!]?.sha256, sha256(poolFile));
  assert.is(after.files[rel!]?.name, 'badrec');
  assert.is(run('mirror', 'verify').code, 0);
});

test.run();
