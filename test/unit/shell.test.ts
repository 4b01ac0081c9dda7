/** How the Shell prints a command (running real commands through it: test/integration/shell-run.test.ts). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatCommand } from '../../src/shell.js';

test('formatCommand quotes only what needs quoting', () => {
  assert.is(formatCommand(['ls', ['-la', '--', '/tmp/a b', '$(touch x).deb']]), "ls -la -- $'/tmp/a b' $'$(touch x).deb'");
});

test.run();
