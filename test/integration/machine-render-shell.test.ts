/** shellQuote through a real bash (the renderers' text: test/unit/machine-render.test.ts). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { shellQuote } from '../../src/machine/render.js';

test('shellQuote survives bash: hostile text comes back verbatim and runs nothing', () => {
  const hostile = `it's $(touch /tmp/nk-pwned) \`id\` "x" \\ \n; rm -rf /`;
  const out = spawnSync('bash', ['-c', `printf %s ${shellQuote(hostile)}`], { encoding: 'utf8' });
  assert.is(out.stdout, hostile);
});

test.run();
