/** stanzaScanner: the same five facts as trusted-index.ts's parsePackagesIndex, however the text is cut into pieces. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { stanzaScanner, suitesByBytes } from '../../src/mirror/upstream-lists.js';
import { parsePackagesIndex, type TrustedPackage } from '../../src/mirror/trusted-index.js';

const sha = (c: string): string => c.repeat(64);
const TEXT = [
  'Package: hello',
  'Version: 2.10-3',
  'Architecture: amd64',
  'Description: a greeting',
  ' Size: 1 (a continuation line, not a field)',
  'Size: 1234',
  `SHA256: ${sha('A')}`,
  '',
  'Package: libc6',
  'Source: glibc',
  'Version: 2.36-9+deb12u4',
  'Architecture: amd64',
  'Size: 2759320',
  `SHA256: ${sha('b')}`,
  '\r',
  'Package: broken',
  'Version: 1',
  'Architecture: all',
  'Size: 12',
  'SHA256: nothex',
  '',
  'Package: base-files',
  'Version: 1:12.4',
  'Architecture: all',
  'Size: 7',
  `SHA256: ${sha('c')}`,
].join('\n');

function scan(text: string, cuts: number[], want?: ReadonlySet<string>): TrustedPackage[] {
  const out: TrustedPackage[] = [];
  const s = stanzaScanner(want, out);
  let from = 0;
  for (const c of [...cuts, text.length]) {
    s.feed(text.slice(from, c));
    from = c;
  }
  s.end();
  return out;
}

test('whole text and every two-piece cut give parsePackagesIndex\'s result (last stanza without a blank line too)', () => {
  const expected = parsePackagesIndex(TEXT);
  assert.is(expected.length, 3);
  assert.equal(scan(TEXT, []), expected);
  for (let i = 0; i <= TEXT.length; i++) assert.equal(scan(TEXT, [i]), expected, `cut at ${i}`);
  assert.equal(scan(`${TEXT}\n\n`, [5, 40, 41, 200]), expected);
});

test('want keeps only the named packages', () => {
  assert.equal(scan(TEXT, [100], new Set(['libc6', 'nothere'])).map((p) => p.name), ['libc6']);
});

test('suitesByBytes: one key per exact .deb, naming each suite once, in list order', () => {
  const p: TrustedPackage = { name: 'hello', version: '1', architecture: 'amd64', size: 1, sha256: sha('d') };
  const other = { ...p, sha256: sha('e') };
  const m = suitesByBytes(new Map([['bookworm', [p, p]], ['bookworm-updates', [p]], ['bookworm-security', [other]]]));
  assert.equal([...m.values()], [['bookworm', 'bookworm-updates'], ['bookworm-security']]);
});

test.run();
