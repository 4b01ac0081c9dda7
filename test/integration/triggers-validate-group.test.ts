/**
 * One group of settled files validated (src/triggers/validate-group.ts) on
 * real files: validation sees descriptors, never names; a file written to or
 * removed while it was validated gets no verdict; a machine's file is never
 * opened here.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { appendFileSync, mkdtempSync, realpathSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateGroup } from '../../src/triggers/validate-group.js';

const dir = realpathSync(mkdtempSync(join(tmpdir(), 'nk-vgroup-')));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('verdicts through descriptors; changed or gone meanwhile: no verdict; machine files pass unopened', async () => {
  const [good, bad, grows, goes, machine] = ['good', 'bad', 'grows', 'goes', 'machine'].map((n) => join(dir, `${n}.deb`)) as [string, string, string, string, string];
  for (const p of [good, bad, grows, goes, machine]) writeFileSync(p, 'x');
  const seen: string[] = [];
  const outcomes = await validateGroup([good, bad, grows, goes, machine], {
    statOf: (p) => fsp.stat(p).catch(() => undefined),
    notInPlace: (p) => p === machine,
    validation: {
      validate: async () => 'unused',
      validateMany: async (fdPaths) => {
        seen.push(...fdPaths);
        appendFileSync(grows, 'more');
        unlinkSync(goes);
        return [true, `not a Debian archive: ${fdPaths[1]} is 1 byte`, true, true];
      },
    },
  });
  assert.is(seen.length, 4, 'the machine file is not opened');
  for (const p of seen) assert.match(p, new RegExp(`^/proc/${process.pid}/fd/\\d+$`));
  assert.equal(
    outcomes.map((o) => (o.outcome === 'verdict' ? { path: o.path, verdict: o.verdict, size: o.st.size } : o)),
    [
      { path: good, verdict: true, size: 1 },
      { path: bad, verdict: `not a Debian archive: ${bad} is 1 byte`, size: 1 },
      { path: grows, outcome: 'changed' },
      { path: goes, outcome: 'gone' },
      { path: machine, verdict: true, size: 1 },
    ],
  );
});

test('a file replaced by another inode of the same size and mtime while validated: changed', async () => {
  const path = join(dir, 'swapped.deb');
  writeFileSync(path, 'aaaa');
  // Whole seconds, so the replacement's mtime is exactly the same: only the inode tells.
  await fsp.utimes(path, 1_000_000, 1_000_000);
  const outcomes = await validateGroup([path], {
    statOf: (p) => fsp.stat(p).catch(() => undefined),
    notInPlace: () => false,
    validation: {
      validate: async () => {
        const other = join(dir, 'other.deb');
        writeFileSync(other, 'bbbb');
        await fsp.utimes(other, 1_000_000, 1_000_000);
        await fsp.rename(other, path);
        return true;
      },
    },
  });
  assert.equal(outcomes, [{ path, outcome: 'changed' }]);
});

test.run();
