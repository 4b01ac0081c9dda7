/**
 * The check before signing (src/mirror/index-check.ts): a Packages stanza
 * passes only when it names its pool file exactly as it was validated, and
 * carries no field a control file could have slipped in. And the control
 * file reader of the importer (deb.ts): fields the index owns are refused.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkStanzas, indexStanzas, stanzaDisagreement, type Validated } from '../../src/mirror/index-check.js';
import { dpkgReason, printable, readControl } from '../../src/mirror/deb.js';

const sha = 'ab'.repeat(32);
const pkgA: Validated = { ok: true, pkg: { name: 'pkga', version: '1:1.0-1', architecture: 'amd64', source: 'pkga', size: 802, sha256: sha } };
const file = 'pool/main/p/pkga/pkga_1.0-1_amd64.deb';
const stanza = (over: Record<string, string> = {}) => ({ Package: 'pkga', Version: '1:1.0-1', Architecture: 'amd64', Filename: file, Size: '802', MD5sum: '0'.repeat(32), SHA256: sha, ...over });

test('a stanza naming its file as validated passes', () => {
  assert.is(stanzaDisagreement(stanza(), pkgA), undefined);
  assert.is(stanzaDisagreement(stanza({ SHA256: sha.toUpperCase() }), pkgA), undefined);
});

test('every identity field that differs is refused, naming both identities', () => {
  const both = (indexed: string) => `the index names it ${indexed}, nspawn-kit validated it as pkga 1:1.0-1 amd64 (802 bytes, sha256 ${sha.slice(0, 16)}…)`;
  assert.is(stanzaDisagreement(stanza({ Package: 'pkgb' }), pkgA), both(`pkgb 1:1.0-1 amd64 (802 bytes, sha256 ${sha.slice(0, 16)}…)`));
  assert.is(stanzaDisagreement(stanza({ Version: '1.0-1' }), pkgA), both(`pkga 1.0-1 amd64 (802 bytes, sha256 ${sha.slice(0, 16)}…)`));
  assert.is(stanzaDisagreement(stanza({ Architecture: 'all' }), pkgA), both(`pkga 1:1.0-1 all (802 bytes, sha256 ${sha.slice(0, 16)}…)`));
  assert.is(stanzaDisagreement(stanza({ Size: '803' }), pkgA), both(`pkga 1:1.0-1 amd64 (803 bytes, sha256 ${sha.slice(0, 16)}…)`));
  assert.is(stanzaDisagreement(stanza({ SHA256: 'cd'.repeat(32) }), pkgA), both(`pkga 1:1.0-1 amd64 (802 bytes, sha256 ${'cd'.repeat(8)}…)`));
  // A package name with a control character is shown escaped.
  assert.match(stanzaDisagreement(stanza({ Package: 'x\u001b[2J' }), pkgA) ?? '', 'the index names it x\\x1b[2J 1:1.0-1');
});

test('fields copied from a control file, a field twice, an invalid or unknown file are refused', () => {
  assert.is(stanzaDisagreement(stanza({ SHA512: 'ff' }), pkgA), 'the index entry carries SHA512 taken from the .deb\'s control file');
  assert.is(stanzaDisagreement(stanza({ SHA1: '1', 'Description-md5': '2' }), pkgA), 'the index entry carries SHA1, Description-md5 taken from the .deb\'s control file');
  assert.is(stanzaDisagreement(stanza(), { ok: false, reason: 'not a valid .deb: duplicate ar member control.tar.gz' }), 'not a valid .deb: duplicate ar member control.tar.gz');
  assert.is(stanzaDisagreement(stanza(), undefined), 'not a file of this suite');
  const [twice] = indexStanzas(`Package: pkga\nVersion: 1:1.0-1\nArchitecture: amd64\npackage: pkgb\nFilename: ${file}\nSize: 802\nSHA256: ${sha}\n`);
  assert.is(stanzaDisagreement(twice!, pkgA), 'the index entry has the field Package twice');
});

test('indexStanzas: the checked fields of each stanza, names canonical, continuation lines and other fields skipped', () => {
  const text = 'Package: a\nversion: 1\nDescription: x\n Package: forged\n .\nsha512: ff\n\n\nPackage: b\nFilename: pool/b.deb\n \nPackage: c\n';
  assert.equal(indexStanzas(text), [{ Package: 'a', Version: '1', SHA512: 'ff' }, { Package: 'b', Filename: 'pool/b.deb' }, { Package: 'c' }]);
  assert.equal(indexStanzas(''), []);
});

test('checkStanzas: one disagreement per file (an `all` package is in every architecture index)', () => {
  const validated = new Map<string, Validated>([[file, pkgA]]);
  assert.equal(checkStanzas([stanza(), stanza()], validated), []);
  const bad = stanza({ Package: 'pkgb' });
  const found = checkStanzas([bad, bad, stanza({ Filename: 'pool/x.deb' })], validated);
  assert.equal(found.map((f) => f.file), [file, 'pool/x.deb']);
  assert.is(found[1]?.reason, 'not a file of this suite');
});

test('readControl: fields the index owns are refused in any case; the naming fields are read case-insensitively', () => {
  assert.equal(readControl('Package: a\nversion: 1\nARCHITECTURE: all\nDescription: x\n more: text\n'), { ok: true, fields: { Package: 'a', Version: '1', Architecture: 'all' } });
  for (const f of ['Filename', 'size', 'MD5sum', 'sha1', 'SHA256', 'SHA512', 'description-MD5']) {
    const r = readControl(`Package: a\n${f}: 1\n`);
    assert.is(r.ok, false, f);
    assert.match(r.ok ? '' : r.reason, /^control file sets (Filename|Size|MD5sum|SHA1|SHA256|SHA512|Description-md5): the index owns that field \(refused\)$/);
  }
  assert.equal(readControl('Package: a\nPackage: b\n'), { ok: false, reason: 'control file has the field Package twice' });
});

test("dpkg-deb's whole reason: every line, escaped, prefixes dropped", () => {
  assert.is(
    dpkgReason("dpkg-deb: error: archive 'x' has premature member 'y' before 'control.tar', giving up\n\ndpkg-deb: error: second\x1b[31m line\n"),
    "archive 'x' has premature member 'y' before 'control.tar', giving up / second\\x1b[31m line",
  );
  assert.is(dpkgReason(''), 'no output');
  assert.is(printable('a\nb\\c\u2028'), 'a\\x0ab\\\\c\\u2028');
});

test.run();
