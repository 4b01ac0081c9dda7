/**
 * Pure parts of the ingest side: Debian version ordering (checked against
 * dpkg --compare-versions), control-field checks, retention selection,
 * apt-move.conf rendering, private apt root rendering and parsing.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkControlFields, compareVersions, parseControlFields } from '../../src/mirror/deb.js';
import { selectSuperseded } from '../../src/mirror/gc.js';
import { aptSitesOf, renderAptMoveConf } from '../../src/mirror/apt-move.js';
import { aptRootOptions, aptUri, parsePrintUris, listPrefix, recipeSources, renderSources, sourceOfList } from '../../src/mirror/apt-root.js';
import { isPoolPath, normalizeSuite } from '../../src/mirror/suites.js';
import { isPoolTemp } from '../../src/mirror/pool.js';
import { ORDERED } from '../helpers/deb-versions.js';


test('compareVersions orders epochs, tildes, revisions and numbers like dpkg', () => {
  for (let i = 0; i < ORDERED.length; i++) {
    for (let j = 0; j < ORDERED.length; j++) {
      const a = ORDERED[i] ?? '';
      const b = ORDERED[j] ?? '';
      assert.is(Math.sign(compareVersions(a, b)), Math.sign(i - j), `${a} vs ${b}`);
    }
  }
  assert.is(compareVersions('1.0', '1.00'), 0);
  assert.is(compareVersions('0:1.0', '1.0'), 0);
  assert.ok(compareVersions('1.0-1', '1.0') > 0);
  assert.ok(compareVersions('99999999999999999999.1', '99999999999999999998.9') > 0);
});

test('control fields: parsed, checked, Source version dropped, bad values named', () => {
  const f = parseControlFields('Package: libfoo1\nVersion: 1:2.0~rc1-3\nArchitecture: amd64\nSource: foo (2.0~rc1-2)\n');
  assert.equal(checkControlFields(f, ['amd64']), { ok: true, name: 'libfoo1', version: '1:2.0~rc1-3', architecture: 'amd64', source: 'foo' });
  assert.equal(checkControlFields({ ...f, Source: undefined } as unknown as Record<string, string>, ['amd64']), {
    ok: true,
    name: 'libfoo1',
    version: '1:2.0~rc1-3',
    architecture: 'amd64',
    source: 'libfoo1',
  });
  assert.ok(checkControlFields({ ...f, Architecture: 'all' }, ['amd64']).ok);
  const bad = (fields: Record<string, string>) => {
    const r = checkControlFields(fields, ['amd64']);
    return r.ok ? '' : r.reason;
  };
  assert.match(bad({ ...f, Architecture: 'arm64' }), 'architecture arm64 is not one of');
  assert.match(bad({ ...f, Package: '../evil' }), 'invalid package name');
  assert.match(bad({ ...f, Package: '--version' }), 'invalid package name');
  assert.match(bad({ ...f, Version: '1.0/../../x' }), 'invalid version');
  assert.match(bad({ ...f, Version: '1.0_2' }), 'invalid version');
  assert.match(bad({ ...f, Source: '$(touch x)' }), 'invalid Source');
  assert.match(bad({ Version: '1', Architecture: 'amd64' }), 'no Package field');
});

test('selectSuperseded keeps the newest N per name and architecture (epochs and tildes)', () => {
  const m = (name: string, version: string, architecture = 'amd64') => ({ name, version, architecture });
  const members = [
    m('foo', '1.0-1'),
    m('foo', '1:0.9-1'), // epoch: newest
    m('foo', '2.0~rc1-1'),
    m('foo', '2.0-1'),
    m('foo', '1.0-1', 'arm64'),
    m('bar', '1.0~beta1'),
    m('bar', '1.0'),
  ];
  const gone = selectSuperseded(members, 2).map((x) => `${x.name}_${x.version}_${x.architecture}`).sort();
  assert.equal(gone, ['foo_1.0-1_amd64', 'foo_2.0~rc1-1_amd64']);
  assert.equal(selectSuperseded(members, 1).map((x) => x.version).sort(), ['1.0-1', '1.0~beta1', '2.0-1', '2.0~rc1-1']);
});

test('suite entries: only plain pool paths, sorted in byte order and unique', () => {
  assert.ok(isPoolPath('pool/main/h/hello/hello_2.10-3_amd64.deb'));
  assert.ok(isPoolPath('pool/main/libf/libfoo/libfoo1_1.0~rc1+dfsg-1_amd64.deb'));
  assert.not.ok(isPoolPath('pool/main/../../etc/passwd.deb'));
  assert.not.ok(isPoolPath('/abs/pool/x.deb'));
  assert.not.ok(isPoolPath('pool/main/a b.deb'));
  assert.not.ok(isPoolPath('pool/main/x.deb\npool/y.deb'));
  assert.equal(normalizeSuite(['pool/b', 'pool/B', 'pool/a', 'pool/b']), ['pool/B', 'pool/a', 'pool/b']);
  assert.ok(isPoolTemp('.nk-123-abcdef012345.hello_1_amd64.deb.tmp'));
  assert.not.ok(isPoolTemp('hello_1_amd64.deb'));
});

test('apt-move.conf: the original recipe settings, values single-quoted, unsafe paths refused', () => {
  const text = renderAptMoveConf({ localDir: '/s/am/local', dist: 'bookworm', fileCache: '/s/am/fc', listState: '/s/am/lists', aptSites: ['deb.debian.org', 'security.debian.org'] });
  for (const line of ['COPYONLY=yes', "APTSITES='deb.debian.org security.debian.org'", "LOCALDIR='/s/am/local'", "DIST='bookworm'", 'PKGTYPE=binary', "FILECACHE='/s/am/fc'", "LISTSTATE='/s/am/lists'", 'DELETE=no', 'PKGCOMP=gzip', 'CONTENTS=no']) {
    assert.ok(text.split('\n').includes(line), line);
  }
  assert.throws(() => renderAptMoveConf({ localDir: '/s/$(id)', dist: 'bookworm', fileCache: '/f', listState: '/l', aptSites: [] }), /unquoted/);
  assert.throws(() => renderAptMoveConf({ localDir: '/s/a b', dist: 'bookworm', fileCache: '/f', listState: '/l', aptSites: [] }), /unquoted/);
  assert.equal(
    aptSitesOf(['deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4', 'deb.debian.org_debian-security_dists_bookworm-security_main_binary-amd64_Packages.lz4', 'x_InRelease', 'lock']),
    ['deb.debian.org'],
  );
});

test('private apt root: deb822 with Signed-By, no trusted flags, -o options name the private dirs', () => {
  const own = recipeSources(
    {
      upstream: 'copy:///srv/mirror',
      suites: ['bookworm', 'bookworm-security'],
      upstreams: { bookworm: 'copy:///srv/mirror', 'bookworm-security': 'http://sec.example/debian-security' },
      components: ['main', 'contrib'],
    },
    '/usr/share/keyrings/debian-archive-keyring.gpg',
  );
  // An extra repository's source, Signed-By its key's copy in the root (warm-keys.ts; test/integration/mirror-warm-keys.test.ts).
  const sources = [...own, { uri: 'https://example.org/debian', suite: 'bookworm', components: ['main'], signedBy: '/st/warm/apt-x/etc/keyrings/extra.asc' }];
  assert.is(own.length, 2);
  const text = renderSources(sources);
  assert.match(text, 'URIs: file:///srv/mirror\nSuites: bookworm\nComponents: main contrib\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg');
  assert.match(text, 'URIs: http://sec.example/debian-security\nSuites: bookworm-security\nComponents: main contrib\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg');
  assert.match(text, 'URIs: https://example.org/debian\nSuites: bookworm\nComponents: main\nSigned-By: /st/warm/apt-x/etc/keyrings/extra.asc');
  // Each list file of the root is claimed by the source apt fetched it for (apt's URItoFileName).
  assert.is(listPrefix('http://user@sec.example/debian-security/', 'bookworm-security'), 'sec.example_debian-security_dists_bookworm-security_');
  assert.is(sourceOfList('sec.example_debian-security_dists_bookworm-security_main_binary-amd64_Packages.lz4', sources)?.suite, 'bookworm-security');
  assert.is(sourceOfList('_srv_mirror_dists_bookworm_contrib_binary-amd64_Packages', sources)?.uri, 'copy:///srv/mirror');
  assert.is(sourceOfList('example.org_debian_dists_bookworm_main_binary-amd64_Packages', sources)?.uri, 'https://example.org/debian');
  assert.is(sourceOfList('sec.example_debian-security_dists_bookworm_main_binary-amd64_Packages', sources), undefined);
  // apt quotes the URI (QuoteString with "\\|{}[]<>\"^~_=!@#$%^&*", lower-case hex) before "/" -> "_".
  assert.is(listPrefix('file:///srv/my_mirror/~deb', 'bookworm'), '_srv_my%5fmirror_%7edeb_dists_bookworm_');
  assert.is(listPrefix('http://h.example:8080/a=b/c%20d', 'jammy'), 'h.example:8080_a%3db_c%2520d_dists_jammy_');
  assert.not.match(text, /trusted|allow-insecure/i);
  const opts = aptRootOptions('/st/warm', 'amd64', false).join(' ');
  for (const o of ['Dir::Etc=/st/warm/etc', 'Dir::State=/st/warm/state', 'Dir::State::status=/st/warm/state/status', 'Dir::Cache=/st/warm/cache', 'APT::Install-Recommends=false']) {
    assert.match(opts, o);
  }
  assert.is(aptUri('copy:///m'), 'file:///m');
});

test('parsePrintUris: epoch un-escaped, source from the upstream pool directory', () => {
  const out = parsePrintUris(
    [
      "'http://deb.debian.org/debian/pool/main/a/audit/libaudit-common_3.0.9-1_all.deb' libaudit-common_1%3a3.0.9-1_all.deb 10448 SHA256:" + 'a'.repeat(64),
      "'http://deb.debian.org/debian/pool/main/g/gcc-12/gcc-12-base_12.2.0-14%2bdeb12u1_amd64.deb' gcc-12-base_12.2.0-14+deb12u1_amd64.deb 37596 SHA256:" + 'b'.repeat(64),
      'Reading package lists...',
    ].join('\n'),
  );
  assert.equal(
    out.map((d) => [d.name, d.version, d.architecture, d.source, d.size]),
    [
      ['libaudit-common', '1:3.0.9-1', 'all', 'audit', 10448],
      ['gcc-12-base', '12.2.0-14+deb12u1', 'amd64', 'gcc-12', 37596],
    ],
  );
});

test.run();
