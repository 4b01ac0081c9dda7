/**
 * The suites of a codename and their upstreams (config/suite-family.ts and
 * the recipe resolver): the release, -updates and -security; per-suite
 * upstreams from mirror.upstreams, then the host's apt sources, then the
 * default derived from the release's upstream; "updates": false opts out.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { defaultUpdateUpstream, hasUpdateSuites, inFamily, suiteKind, suitesOf } from '../../src/config/suite-family.js';
import { resolveRecipe } from '../../src/config/recipes.js';
import { makeConfig } from '../helpers/config.js';

test('suitesOf: release first, then -updates and -security; none for development suites or when opted out', () => {
  assert.equal(suitesOf('bookworm', true), ['bookworm', 'bookworm-updates', 'bookworm-security']);
  assert.equal(suitesOf('bookworm', false), ['bookworm']);
  assert.equal(suitesOf('sid', true), ['sid']);
  assert.equal(suitesOf('unstable', true), ['unstable']);
  // A suite with "-" is never the release of a family: no bookworm-backports-updates.
  assert.equal(suitesOf('bookworm-backports', true), ['bookworm-backports']);
});

test('hasUpdateSuites: a codename without "-" that is not a development suite', () => {
  assert.ok(hasUpdateSuites('bookworm'));
  assert.ok(hasUpdateSuites('jammy'));
  assert.not.ok(hasUpdateSuites('bookworm-backports'));
  assert.not.ok(hasUpdateSuites('bookworm-proposed'));
  assert.not.ok(hasUpdateSuites('sid'));
  assert.not.ok(hasUpdateSuites('experimental'));
});

test('suiteKind and inFamily name the codename and kind of a suite, and nothing more', () => {
  assert.equal(suiteKind('bookworm'), { codename: 'bookworm', kind: 'release' });
  assert.equal(suiteKind('bookworm-updates'), { codename: 'bookworm', kind: 'updates' });
  assert.equal(suiteKind('bookworm-security'), { codename: 'bookworm', kind: 'security' });
  // Not an update suite: backports, a bare suffix, a suffix after an invalid codename.
  assert.equal(suiteKind('bookworm-backports'), { codename: 'bookworm-backports', kind: 'release' });
  assert.equal(suiteKind('-security'), { codename: '-security', kind: 'release' });
  assert.equal(suiteKind('x-security'), { codename: 'x-security', kind: 'release' });
  // proposed-updates is a suite of its own, not "updates of bookworm-proposed"; sid has no update suites.
  assert.equal(suiteKind('bookworm-proposed-updates'), { codename: 'bookworm-proposed-updates', kind: 'release' });
  assert.equal(suiteKind('bookworm-backports-security'), { codename: 'bookworm-backports-security', kind: 'release' });
  assert.equal(suiteKind('sid-security'), { codename: 'sid-security', kind: 'release' });
  assert.ok(inFamily('bookworm', 'bookworm-security'));
  assert.ok(inFamily('bookworm', 'bookworm'));
  assert.not.ok(inFamily('bookworm', 'trixie-security'));
  assert.not.ok(inFamily('bookworm', 'bookworm-backports'));
});

test('defaultUpdateUpstream: the sibling <path>-security of a Debian archive (a mirror\'s path prefix kept), the archive itself otherwise', () => {
  assert.is(defaultUpdateUpstream('http://deb.debian.org/debian', 'security'), 'http://deb.debian.org/debian-security');
  assert.is(defaultUpdateUpstream('https://mirror.example/pub/debian/', 'security'), 'https://mirror.example/pub/debian-security');
  assert.is(defaultUpdateUpstream('http://mirror.example.org/pub/debian', 'security'), 'http://mirror.example.org/pub/debian-security');
  assert.is(defaultUpdateUpstream('http://deb.debian.org/debian/', 'updates'), 'http://deb.debian.org/debian');
  assert.is(defaultUpdateUpstream('http://archive.ubuntu.com/ubuntu', 'security'), 'http://archive.ubuntu.com/ubuntu');
  assert.is(defaultUpdateUpstream('file:///srv/up/debian', 'security'), 'file:///srv/up/debian-security');
});

test('an update suite\'s upstream: its mirror.upstreams entry, else it follows the release (configured archive, or the host\'s sources)', () => {
  const base = makeConfig('/nonexistent');
  const host = { ...base.host, aptSources: { bookworm: 'http://host.example/debian', 'bookworm-updates': 'http://host.example/upd', 'bookworm-security': 'http://host.example/sec' } };
  // The release from the host's sources: the update suites from the host's sources too.
  const fromHost = resolveRecipe(makeConfig('/nonexistent', { host, recipes: { r: { codename: 'bookworm' } } }), 'r');
  assert.equal(fromHost.upstreams, { bookworm: 'http://host.example/debian', 'bookworm-updates': 'http://host.example/upd', 'bookworm-security': 'http://host.example/sec' });
  // The release configured: the update suites follow it (a per-suite entry still wins), never the host's.
  const config = makeConfig('/nonexistent', {
    host,
    mirror: { ...base.mirror, upstreams: { bookworm: 'http://a.example/debian', 'bookworm-security': 'http://sec.example/ds' } },
    recipes: { r: { codename: 'bookworm' }, own: { codename: 'bookworm', upstream: 'http://own.example/debian' }, off: { codename: 'bookworm', updates: false } },
  });
  const r = resolveRecipe(config, 'r');
  assert.equal(r.suites, ['bookworm', 'bookworm-updates', 'bookworm-security']);
  assert.equal(r.upstreams, { bookworm: 'http://a.example/debian', 'bookworm-updates': 'http://a.example/debian', 'bookworm-security': 'http://sec.example/ds' });
  assert.equal(resolveRecipe(config, 'own').upstreams, {
    bookworm: 'http://own.example/debian',
    'bookworm-updates': 'http://own.example/debian',
    'bookworm-security': 'http://sec.example/ds',
  });
  const off = resolveRecipe(config, 'off');
  assert.equal(off.suites, ['bookworm']);
  assert.equal(off.upstreams, { bookworm: 'http://a.example/debian' });
  assert.is.not(off.hash, r.hash, 'opting out changes what the container is');
  assert.is.not(off.baseHash, r.baseHash);
});

test.run();
