/**
 * The ar check opens a .deb without following a link, except a link to one
 * of this process's own descriptors (/proc/<pid>/fd/N), which the watcher
 * opened and checked itself and hands to validation so that a name swapped
 * meanwhile changes nothing. Real files, real descriptors.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkDebFile, isOwnDescriptor } from '../../src/mirror/ar.js';
import { makeDeb } from '../helpers/debs.js';

const base = mkdtempSync(join(tmpdir(), 'nk-ar-fd-'));
test.after(() => rmSync(base, { recursive: true, force: true }));

test('own descriptors by /proc path are followed; any other link, /proc/<other pid>/fd included, is not', async () => {
  const deb = makeDeb(base, { name: 'fdpkg' });
  const link = join(base, 'link.deb');
  symlinkSync(deb, link);
  const fh = await open(deb, 'r');
  try {
    for (const path of [`/proc/${process.pid}/fd/${fh.fd}`, `/proc/self/fd/${fh.fd}`]) {
      assert.ok(isOwnDescriptor(path), path);
      const r = await checkDebFile(path);
      assert.ok(r.ok, `${path}: ${r.ok ? '' : r.reason}`);
    }
    // pid 1's descriptors are not ours: not followed.
    assert.not.ok(isOwnDescriptor(`/proc/1/fd/${fh.fd}`));
    const other = await checkDebFile(`/proc/1/fd/0`);
    assert.is(other.ok, false);
    for (const path of [`/proc/${process.pid}/fd/${fh.fd}/x`, `/proc/${process.pid}/fdinfo/${fh.fd}`, `/proc/${process.pid}/cwd`]) assert.not.ok(isOwnDescriptor(path), path);
    const viaLink = await checkDebFile(link);
    assert.equal(viaLink, { ok: false, reason: 'symbolic link (not followed)' });
  } finally {
    await fh.close();
  }
});

test.run();
