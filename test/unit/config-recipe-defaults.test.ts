import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveRecipe } from '../../src/config/recipes.js';
import { makeConfig } from '../helpers/config.js';

const HASH = '7dd4e87d31af8af07047818fc2da4720d48d5a75f6eee4b5fce0acc387e00ddd';
const BASE_HASH = 'cd7e383fc42f6021fd96b16ca7ccc5f0cae3cca1dd887d360ced8229a32450cf';

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
    description: '',
    source: '<embedded defaults>: recipes.Bare_Name',
    parents: [],
    upstream: 'http://127.0.0.1:9/debian',
    // sha256 of the canonical JSON of the body, written out by hand (printf ... | sha256sum):
    // {"bootstrap":"debootstrap","codename":"bookworm","components":["main"],"firstboot":"systemd","hostname":"bare-name","name":"Bare_Name","nspawn":{"binds":[],"bindsReadOnly":[],"network":"host","privateUsers":false},"packages":[],"refresh":false,"repositories":[],"steps":[],"users":[],"variant":"minbase"}
    hash: HASH,
    // {"arch":"amd64","bootstrap":"debootstrap","codename":"bookworm","components":["main"],"packages":[],"variant":"minbase"}
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
