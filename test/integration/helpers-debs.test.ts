import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeDeb } from '../helpers/debs.js';

test('makeDeb builds a real .deb that dpkg-deb reads back', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nk-helpers-'));
  try {
    const p = makeDeb(dir, { name: 'hello-nk', version: '2:1.2-3', depends: 'libc6' });
    assert.ok(p.endsWith('hello-nk_1.2-3_amd64.deb'));
    const fields = execFileSync('dpkg-deb', ['--field', p, 'Package', 'Version', 'Depends'], { encoding: 'utf8' });
    assert.match(fields, 'Package: hello-nk');
    assert.match(fields, 'Version: 2:1.2-3');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
