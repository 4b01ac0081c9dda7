import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveRecipe } from '../../src/config/recipes.js';
import { makeConfig } from '../helpers/config.js';

const HASH = '917ec7ccc8b52f87bb2817673ecb3ce9914ac8669043d4175bf12c734942a215';
const BASE_HASH = '0f0408436e9fba806dbc67645543fc3545be5106c8323ec4985f65de4a9fa717';

test('a recipe that sets nothing gets every default (from the schema), and a hash over exactly those fields', () => {
  const config = makeConfig('/nonexistent', { recipes: { Bare_Name: { codename: 'bookworm', upstream: 'http://127.0.0.1:9/debian' } } });
  const r = resolveRecipe(config, 'Bare_Name');
  assert.equal(r, {
    name: 'Bare_Name',
    codename: 'bookworm',
    variant: 'minbase',
    components: ['main'],
    packages: [],
    repositories: [],
    hostname: 'bare-name',
    users: [],
    steps: [],
    firstboot: 'systemd',
    bootstrap: 'debootstrap',
    nspawn: { network: 'host', binds: [], bindsReadOnly: [], privateUsers: false },
    refresh: false,
    updates: true,
    description: '',
    source: '<embedded defaults>: recipes.Bare_Name',
    parents: [],
    upstream: 'http://127.0.0.1:9/debian',
    suites: ['bookworm', 'bookworm-updates', 'bookworm-security'],
    upstreams: {
      bookworm: 'http://127.0.0.1:9/debian',
      'bookworm-updates': 'http://127.0.0.1:9/debian',
      'bookworm-security': 'http://127.0.0.1:9/debian-security',
    },
    // sha256 of the canonical JSON of the body, written out by hand (printf ... | sha256sum):
    // {"bootstrap":"debootstrap","codename":"bookworm","components":["main"],"firstboot":"systemd","hostname":"bare-name","name":"Bare_Name","nspawn":{"binds":[],"bindsReadOnly":[],"network":"host","privateUsers":false},"packages":[],"refresh":false,"repositories":[],"steps":[],"updates":true,"users":[],"variant":"minbase"}
    hash: HASH,
    // {"arch":"amd64","bootstrap":"debootstrap","codename":"bookworm","components":["main"],"packages":[],"suites":["bookworm","bookworm-updates","bookworm-security"],"variant":"minbase"}
    baseHash: BASE_HASH,
  });
});

test('a child recipe keeps what its parent set; defaults fill only what neither set', () => {
  const config = makeConfig('/nonexistent', {
    recipes: {
      parent: { codename: 'bookworm', upstream: 'http://127.0.0.1:9/debian', variant: 'buildd', steps: ['true'] },
      child: { extends: 'parent', packages: ['systemd'] },
    },
  });
  const r = resolveRecipe(config, 'child');
  assert.is(r.variant, 'buildd');
  assert.equal(r.packages, ['systemd']);
  assert.equal(r.parents, ['parent']);
  assert.equal(r.steps, ['true']);
  assert.equal(r.components, ['main']);
  assert.is(r.firstboot, 'systemd');
  assert.is(r.hostname, 'child');
});

test.run();
