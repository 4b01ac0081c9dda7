import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  bootstrapCommand,
  bootstrapSpec,
  emptyProgress,
  formatProgress,
  parseProgressLine,
} from '../../src/rootfs/backends.js';
import { ConfigError } from '../../src/errors.js';
import { makeRecipe } from '../helpers/config.js';

const paths = { architecture: 'amd64', target: '/m/.build/root', mirrorRoot: '/srv/mirror', keyring: '/srv/mirror/mirror.gpg' };

test('debootstrap argv: variant, binary keyring, components, arch, then codename target file:// mirror', () => {
  const cmd = bootstrapCommand(bootstrapSpec(makeRecipe({ components: ['main', 'contrib'] }), paths));
  assert.equal(cmd, [
    'debootstrap',
    [
      '--variant=minbase',
      '--keyring=/srv/mirror/mirror.gpg',
      '--components=main,contrib',
      '--arch=amd64',
      'bookworm',
      '/m/.build/root',
      'file:///srv/mirror',
    ],
  ]);
});

test('debootstrap: the "default" variant has no --variant flag; buildd and fakechroot are passed through; no insecure flag ever', () => {
  const [, args] = bootstrapCommand(bootstrapSpec(makeRecipe({ variant: 'default' }), paths));
  assert.equal(args, ['--keyring=/srv/mirror/mirror.gpg', '--components=main', '--arch=amd64', 'bookworm', '/m/.build/root', 'file:///srv/mirror']);
  for (const variant of ['buildd', 'fakechroot'] as const) {
    const [, v] = bootstrapCommand(bootstrapSpec(makeRecipe({ variant }), paths));
    assert.equal(v.slice(0, 2), [`--variant=${variant}`, '--keyring=/srv/mirror/mirror.gpg'], variant);
  }
  for (const backend of ['debootstrap', 'mmdebstrap'] as const) {
    const [, a] = bootstrapCommand(bootstrapSpec(makeRecipe({ bootstrap: backend }), paths));
    assert.not.ok(a.some((x) => /no-check-gpg|trusted|insecure|unauthenticated/.test(x)), backend);
  }
});

test('mmdebstrap argv: copy:// mirror, merged-usr hook, keyring, variant mapping', () => {
  const cmd = bootstrapCommand(bootstrapSpec(makeRecipe({ bootstrap: 'mmdebstrap' }), paths));
  assert.equal(cmd, [
    'mmdebstrap',
    [
      '--variant=minbase',
      '--mode=root',
      '--keyring=/srv/mirror/mirror.gpg',
      '--components=main',
      '--architectures=amd64',
      '--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr',
      '--include=apt',
      'bookworm',
      '/m/.build/root',
      'copy:///srv/mirror',
    ],
  ]);
  const [, def] = bootstrapCommand(bootstrapSpec(makeRecipe({ bootstrap: 'mmdebstrap', variant: 'default' }), paths));
  assert.is(def[0], '--variant=debootstrap');
  const [, buildd] = bootstrapCommand(bootstrapSpec(makeRecipe({ bootstrap: 'mmdebstrap', variant: 'buildd' }), paths));
  assert.is(buildd[0], '--variant=buildd');
});

test('mmdebstrap has no fakechroot variant: a ConfigError with a hint', () => {
  assert.throws(
    () => bootstrapCommand(bootstrapSpec(makeRecipe({ bootstrap: 'mmdebstrap', variant: 'fakechroot' }), paths)),
    (err: unknown) => err instanceof ConfigError && /fakechroot/.test(err.message) && !!err.hint,
  );
});

test('positional arguments that could be read as options are refused', () => {
  const isConfigError = (err: unknown) => err instanceof ConfigError;
  assert.throws(() => bootstrapCommand(bootstrapSpec(makeRecipe(), { ...paths, target: '--version' })), isConfigError);
  assert.throws(() => bootstrapCommand(bootstrapSpec(makeRecipe(), { ...paths, mirrorRoot: 'relative' })), isConfigError);
  assert.throws(() => bootstrapCommand(bootstrapSpec(makeRecipe(), { ...paths, keyring: '-k' })), isConfigError);
  assert.throws(() => bootstrapCommand(bootstrapSpec(makeRecipe({ codename: '--help' }), paths)), isConfigError);
  assert.throws(() => bootstrapCommand(bootstrapSpec(makeRecipe({ bootstrap: 'mmdebstrap' }), { ...paths, target: '--version' })), isConfigError);
});

// Lines copied from a real `debootstrap --variant=minbase bookworm` run on this machine.
const DEBOOTSTRAP_LOG = `I: Target architecture can be executed
I: Retrieving InRelease 
I: Checking Release signature
I: Valid Release signature (key id 4D64FEC119C2029067D6E791F8D2585B8783D481)
I: Retrieving Packages 
I: Validating Packages 
I: Resolving dependencies of required packages...
I: Retrieving adduser 3.134
I: Retrieving apt 2.6.1
I: Retrieving libc6 2.36-9+deb12u13
I: Validating adduser 3.134
I: Validating apt 2.6.1
I: Chosen extractor for .deb packages: dpkg-deb
I: Extracting adduser...
I: Installing core packages...
I: Unpacking required packages...
I: Unpacking adduser...
I: Unpacking libc6:amd64...
I: Configuring required packages...
I: Configuring libc6:amd64...
I: Unpacking the base system...
I: Configuring adduser...
I: Base system installed successfully.`;

test('debootstrap progress: counts packages, not index files or stage headers', () => {
  const p = emptyProgress();
  const seen: string[] = [];
  for (const line of DEBOOTSTRAP_LOG.split('\n')) {
    if (parseProgressLine(p, line)) seen.push(formatProgress(p));
  }
  assert.is(p.retrieved, 3);
  assert.is(p.validated, 2);
  assert.is(p.extracted, 1);
  assert.is(p.unpacked, 2);
  assert.is(p.configured, 2);
  assert.is(p.stage, 'done');
  // The total of unpack and configure: the packages validated (known once debootstrap moved on).
  assert.ok(seen.includes('validating apt (retrieved 3, unpacked 0, configured 0)'), seen.join('\n'));
  assert.ok(seen.includes('unpacking libc6 (retrieved 3, unpacked 2/2, configured 0/2)'), seen.join('\n'));
});

test('mmdebstrap/dpkg lines count as unpack and configure steps', () => {
  const p = emptyProgress();
  parseProgressLine(p, 'Unpacking libc6:amd64 (2.36-9) ...');
  parseProgressLine(p, 'Setting up libc6:amd64 (2.36-9) ...');
  assert.is(p.unpacked, 1);
  assert.is(p.configured, 1);
  assert.is(p.current, 'libc6');
  assert.not.ok(parseProgressLine(p, 'W: something else'));
});

test.run();
