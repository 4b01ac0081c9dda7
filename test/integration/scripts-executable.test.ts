/**
 * Every task script and hook is an executable file (`#!/usr/bin/env node`,
 * mode 0755 in git) that runs from any directory: started by its absolute
 * path from `/`, without zx or node_modules/.bin on PATH, `--help` prints its
 * usage and exits 0. (`npx zx tasks/NAME.mjs` from the checkout keeps working:
 * zx ignores the first line; test/helpers/zx.ts runs them that way.)
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ROOT } from '../helpers/cli.js';

const scripts = ['tasks', 'hooks'].flatMap((dir) =>
  readdirSync(join(ROOT, dir))
    .filter((f) => f.endsWith('.mjs'))
    .sort()
    .map((f) => join(ROOT, dir, f)),
);

test('there are task scripts and hooks to check', () => {
  assert.ok(scripts.some((s) => s.endsWith('/tasks/qgis-container.mjs')));
  assert.ok(scripts.some((s) => s.endsWith('/hooks/nightly-refresh.mjs')));
});

for (const script of scripts) {
  const rel = script.slice(ROOT.length + 1);
  test(`${rel}: executable, #!/usr/bin/env node, --help from / works`, () => {
    assert.is(statSync(script).mode & 0o777, 0o755, `${rel} mode`);
    assert.is(readFileSync(script, 'utf8').split('\n')[0], '#!/usr/bin/env node');
    // PATH: node's own directory and the system's, nothing of the checkout.
    const r = spawnSync(script, ['--help'], { cwd: '/', encoding: 'utf8', env: { PATH: `${dirname(process.execPath)}:/usr/bin:/bin`, HOME: '/root' }, timeout: 60_000 });
    assert.is(r.status, 0, `${rel}: ${r.stderr}`);
    assert.match(r.stdout, rel, `${rel}: the usage names the script`);
  });
}

test.run();
