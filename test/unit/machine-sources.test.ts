import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeRecipe } from '../helpers/config.js';
import { OperationError } from '../../src/errors.js';
import {
  keyFormat,
  loadRepositoryKeys,
  pickUpstreamKeyring,
  planSources,
  renderMirrorSources,
  renderUpstreamSources,
} from '../../src/machine/sources.js';

const ARMORED = Buffer.from('-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZ...\n-----END PGP PUBLIC KEY BLOCK-----\n');
const BINARY = Buffer.from([0x99, 0x01, 0x0d, 0x04, 0x5a]);
const fields = (text: string) => Object.fromEntries(text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(/: (.*)/s).slice(0, 2)));
// Keyring paths in the container, written out (not taken from the module under test).
const DEBIAN_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';
const UBUNTU_KEYRING = '/usr/share/keyrings/ubuntu-archive-keyring.gpg';
const repo = (over: Record<string, unknown>) => ({ name: 'extra', uri: 'https://example.org/apt', suite: 'stable', components: ['main'], enabled: true, ...over });

test('mirror source: bind mount as file:, Signed-By the mirror key, the recipe\'s suites, component main', () => {
  const f = fields(renderMirrorSources(['bookworm', 'bookworm-updates', 'bookworm-security'], { kind: 'bind' }));
  assert.equal(f, {
    Types: 'deb',
    URIs: 'file:/var/local/nspawn-kit-mirror',
    Suites: 'bookworm bookworm-updates bookworm-security',
    Components: 'main',
    'Signed-By': '/etc/apt/keyrings/nspawn-kit-mirror.asc',
  });
  assert.is(
    renderMirrorSources(['trixie'], { kind: 'http', url: 'http://10.0.0.1:8080/' }),
    [
      '# Written by nspawn-kit: the local signed mirror, served over HTTP by `nspawn-kit mirror serve`.',
      'Types: deb',
      'URIs: http://10.0.0.1:8080/',
      'Suites: trixie',
      'Components: main',
      'Signed-By: /etc/apt/keyrings/nspawn-kit-mirror.asc',
      '',
    ].join('\n'),
  );
});

test('upstream: the distribution keyring found in the root; none -> disabled, never unsigned', () => {
  const recipe = makeRecipe({ components: ['main', 'contrib'] });
  assert.equal(fields(renderUpstreamSources(recipe, UBUNTU_KEYRING)), {
    Types: 'deb',
    URIs: 'http://deb.debian.org/debian',
    Suites: 'bookworm',
    Components: 'main contrib',
    'Signed-By': '/usr/share/keyrings/ubuntu-archive-keyring.gpg',
  });
  // No keyring found: still signed (by the Debian keyring path), but disabled, and the file says why.
  assert.is(
    renderUpstreamSources(recipe, undefined),
    [
      '# Written by nspawn-kit: upstream of recipe test-recipe.',
      '# Disabled: no distribution keyring was found in the root; install one and set Enabled: yes.',
      'Types: deb',
      'URIs: http://deb.debian.org/debian',
      'Suites: bookworm',
      'Components: main contrib',
      'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
      'Enabled: no',
      '',
    ].join('\n'),
  );
});

test('upstream of a recipe with update suites: one stanza per archive, every suite from its own upstream', () => {
  const recipe = makeRecipe({
    name: 'web',
    updates: true,
    suites: ['bookworm', 'bookworm-updates', 'bookworm-security'],
    upstreams: {
      bookworm: 'http://deb.debian.org/debian',
      'bookworm-updates': 'http://deb.debian.org/debian',
      'bookworm-security': 'http://deb.debian.org/debian-security',
    },
  });
  assert.is(
    renderUpstreamSources(recipe, DEBIAN_KEYRING),
    [
      '# Written by nspawn-kit: upstream of recipe web.',
      'Types: deb',
      'URIs: http://deb.debian.org/debian',
      'Suites: bookworm bookworm-updates',
      'Components: main',
      'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
      '',
      'Types: deb',
      'URIs: http://deb.debian.org/debian-security',
      'Suites: bookworm-security',
      'Components: main',
      'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
      '',
    ].join('\n'),
  );
  // Without a keyring: every stanza disabled, still naming the Debian keyring, never unsigned.
  assert.is(
    renderUpstreamSources(recipe, undefined),
    [
      '# Written by nspawn-kit: upstream of recipe web.',
      '# Disabled: no distribution keyring was found in the root; install one and set Enabled: yes.',
      'Types: deb',
      'URIs: http://deb.debian.org/debian',
      'Suites: bookworm bookworm-updates',
      'Components: main',
      'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
      'Enabled: no',
      '',
      'Types: deb',
      'URIs: http://deb.debian.org/debian-security',
      'Suites: bookworm-security',
      'Components: main',
      'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
      'Enabled: no',
      '',
    ].join('\n'),
  );
  // An archive carrying all three suites (Ubuntu's layout, or one local archive): one stanza.
  const one = makeRecipe({
    name: 'u',
    suites: ['jammy', 'jammy-updates', 'jammy-security'],
    codename: 'jammy',
    upstream: 'http://archive.ubuntu.com/ubuntu',
    upstreams: { jammy: 'http://archive.ubuntu.com/ubuntu', 'jammy-updates': 'http://archive.ubuntu.com/ubuntu', 'jammy-security': 'http://archive.ubuntu.com/ubuntu' },
  });
  assert.is(
    renderUpstreamSources(one, UBUNTU_KEYRING),
    [
      '# Written by nspawn-kit: upstream of recipe u.',
      'Types: deb',
      'URIs: http://archive.ubuntu.com/ubuntu',
      'Suites: jammy jammy-updates jammy-security',
      'Components: main',
      'Signed-By: /usr/share/keyrings/ubuntu-archive-keyring.gpg',
      '',
    ].join('\n'),
  );
});

test('pickUpstreamKeyring prefers the os-release ID, falls back to what is present', () => {
  const both = [DEBIAN_KEYRING, UBUNTU_KEYRING];
  assert.is(pickUpstreamKeyring('ubuntu', both), '/usr/share/keyrings/ubuntu-archive-keyring.gpg');
  assert.is(pickUpstreamKeyring('debian', both), '/usr/share/keyrings/debian-archive-keyring.gpg');
  assert.is(pickUpstreamKeyring('ubuntu', [DEBIAN_KEYRING]), '/usr/share/keyrings/debian-archive-keyring.gpg');
  assert.is(pickUpstreamKeyring('debian', [UBUNTU_KEYRING]), '/usr/share/keyrings/ubuntu-archive-keyring.gpg');
  assert.is(pickUpstreamKeyring(undefined, [UBUNTU_KEYRING]), '/usr/share/keyrings/ubuntu-archive-keyring.gpg');
  assert.is(pickUpstreamKeyring('debian', ['/usr/share/keyrings/other.gpg']), undefined);
  assert.is(pickUpstreamKeyring(undefined, []), undefined);
});

test('keyFormat decides by content', () => {
  assert.is(keyFormat(ARMORED), 'asc');
  assert.is(keyFormat(BINARY), 'gpg');
  assert.is(keyFormat(Buffer.from([0xc6, 0x33])), 'gpg');
  assert.is(keyFormat(Buffer.from('hello')), undefined);
  assert.is(keyFormat(Buffer.from('-----BEGIN PGP SIGNATURE-----')), undefined);
});

test('planSources: keys copied by format, Enabled: no, signedBy as given, sources.list removed, no trusted anywhere', () => {
  const recipe = makeRecipe({
    repositories: [
      repo({ name: 'qgis', key: '/keys/qgis.asc' }),
      repo({ name: 'bin', key: '/keys/bin.key', enabled: false }),
      repo({ name: 'pre', signedBy: '/usr/share/keyrings/pre.gpg' }),
    ],
  });
  const plan = planSources({
    recipe,
    mirrorAccess: { kind: 'bind' },
    mirrorKey: ARMORED,
    repositoryKeys: new Map([
      ['qgis', { source: '/keys/qgis.asc', content: ARMORED, format: 'asc' as const }],
      ['bin', { source: '/keys/bin.key', content: BINARY, format: 'gpg' as const }],
    ]),
    upstreamKeyring: DEBIAN_KEYRING,
  });
  const byPath = new Map(plan.files.map((f) => [f.path, f.content.toString()]));
  assert.equal([...byPath.keys()].sort(), [
    '/etc/apt/keyrings/bin.gpg',
    '/etc/apt/keyrings/nspawn-kit-mirror.asc',
    '/etc/apt/keyrings/qgis.asc',
    '/etc/apt/sources.list.d/bin.sources',
    '/etc/apt/sources.list.d/nspawn-kit-mirror.sources',
    '/etc/apt/sources.list.d/nspawn-kit-upstream.sources',
    '/etc/apt/sources.list.d/pre.sources',
    '/etc/apt/sources.list.d/qgis.sources',
  ]);
  assert.is(fields(byPath.get('/etc/apt/sources.list.d/qgis.sources')!)['Signed-By'], '/etc/apt/keyrings/qgis.asc');
  const bin = fields(byPath.get('/etc/apt/sources.list.d/bin.sources')!);
  assert.is(bin['Signed-By'], '/etc/apt/keyrings/bin.gpg');
  assert.is(bin.Enabled, 'no');
  assert.is(fields(byPath.get('/etc/apt/sources.list.d/pre.sources')!)['Signed-By'], '/usr/share/keyrings/pre.gpg');
  assert.equal(plan.remove, ['/etc/apt/sources.list']);
  // Key files hold the bytes given; the mirror's source and the upstream's are the rendered ones.
  const bytes = new Map(plan.files.map((f) => [f.path, Buffer.from(f.content)]));
  assert.ok(bytes.get('/etc/apt/keyrings/nspawn-kit-mirror.asc')?.equals(ARMORED));
  assert.ok(bytes.get('/etc/apt/keyrings/qgis.asc')?.equals(ARMORED));
  assert.ok(bytes.get('/etc/apt/keyrings/bin.gpg')?.equals(BINARY));
  assert.equal(fields(byPath.get('/etc/apt/sources.list.d/nspawn-kit-mirror.sources')!), {
    Types: 'deb',
    URIs: 'file:/var/local/nspawn-kit-mirror',
    Suites: 'bookworm',
    Components: 'main',
    'Signed-By': '/etc/apt/keyrings/nspawn-kit-mirror.asc',
  });
  assert.equal(fields(byPath.get('/etc/apt/sources.list.d/nspawn-kit-upstream.sources')!), {
    Types: 'deb',
    URIs: 'http://deb.debian.org/debian',
    Suites: 'bookworm',
    Components: 'main',
    'Signed-By': '/usr/share/keyrings/debian-archive-keyring.gpg',
  });
  for (const f of plan.files.filter((x) => x.path.endsWith('.sources'))) {
    const text = f.content.toString();
    assert.match(text, /^Signed-By: \//m);
    assert.not.match(text, /trusted|allow-insecure/i);
  }
});

test('planSources refuses a repository without key or signedBy, and reserved or duplicate names', () => {
  const base = { mirrorAccess: { kind: 'bind' as const }, mirrorKey: ARMORED, repositoryKeys: new Map(), upstreamKeyring: undefined };
  assert.throws(() => planSources({ ...base, recipe: makeRecipe({ name: 'r1', repositories: [repo({ name: 'nokey' })] }) }), /r1: repository nokey has neither/);
  assert.throws(() => planSources({ ...base, recipe: makeRecipe({ repositories: [repo({ name: 'nspawn-kit-mirror', signedBy: '/k' })] }) }), /reserved/);
  assert.throws(
    () => planSources({ ...base, recipe: makeRecipe({ repositories: [repo({ name: 'a', signedBy: '/k' }), repo({ name: 'a', signedBy: '/k' })] }) }),
    /used twice/,
  );
});

test('loadRepositoryKeys: a missing key names recipe, repository and path; a non-key is refused', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nk-keys-'));
  try {
    const missing = join(dir, 'nope.asc');
    try {
      await loadRepositoryKeys(makeRecipe({ name: 'qgis-box', repositories: [repo({ name: 'qgis', key: missing })] }));
      assert.unreachable('should throw');
    } catch (err) {
      assert.instance(err, OperationError);
      const msg = (err as Error).message;
      assert.ok(msg.includes('qgis-box') && msg.includes('qgis') && msg.includes(missing), msg);
    }
    await writeFile(join(dir, 'junk.asc'), 'not a key');
    try {
      await loadRepositoryKeys(makeRecipe({ repositories: [repo({ name: 'junk', key: join(dir, 'junk.asc') })] }));
      assert.unreachable('should throw');
    } catch (err) {
      assert.is((err as Error).message, `recipe test-recipe: repository junk: ${join(dir, 'junk.asc')} is not an OpenPGP public key: it holds no OpenPGP public key (armored "-----BEGIN PGP PUBLIC KEY BLOCK-----" or binary)`);
    }
    // Real keys are normalised with gpg: test/integration/machine-inject-keys.test.ts.
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
