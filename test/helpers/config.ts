/** Data builders for tests: a resolved Config and Recipe rooted in a temp dir. */
import type { Config, Recipe } from '../../src/config/types.js';

export function makeConfig(base: string, overrides: Partial<Config> = {}): Config {
  return {
    file: undefined,
    stateDir: `${base}/state`,
    mirror: {
      root: `${base}/mirror`,
      archives: [{ path: `${base}/archives`, codename: 'bookworm' }],
      upstreams: {},
      architectures: ['amd64'],
      importer: 'native',
      validDays: 14,
      keep: 3,
      graceHours: 48,
      origin: 'nspawn-kit',
    },
    machines: { dir: `${base}/machines`, settingsDir: `${base}/nspawn`, unitDir: `${base}/units`, clone: 'auto' },
    schedule: { refresh: '17 3 * * *' },
    watch: { settleMs: 300, batchMs: 200 },
    recipeDirs: [],
    host: { codename: 'bookworm', architecture: 'amd64', systemdPid1: false, aptSources: {} },
    ...overrides,
  };
}

/** A recipe without update suites unless the overrides give them (suites and upstreams follow codename and upstream). */
export function makeRecipe(overrides: Partial<Recipe> = {}): Recipe {
  const codename = overrides.codename ?? 'bookworm';
  const upstream = overrides.upstream ?? 'http://deb.debian.org/debian';
  return {
    updates: false,
    suites: [codename],
    upstreams: { [codename]: upstream },
    name: 'test-recipe',
    description: '',
    source: '<test>',
    parents: [],
    codename: 'bookworm',
    variant: 'minbase',
    upstream: 'http://deb.debian.org/debian',
    components: ['main'],
    packages: [],
    repositories: [],
    hostname: 'test-recipe',
    users: [],
    steps: [],
    firstboot: 'systemd',
    bootstrap: 'debootstrap',
    nspawn: { network: 'host', binds: [], bindsReadOnly: [], privateUsers: false },
    refresh: false,
    hash: '0'.repeat(64),
    baseHash: '1'.repeat(64),
    ...overrides,
  };
}
