/**
 * Warm's progress with totals (issue 15), against a LOCAL upstream made at
 * test time (file://, signed with a throwaway key; real debootstrap
 * --print-debs, apt-get, dpkg-deb, gpg): the download reports packages and
 * bytes done out of the totals the verified lists give (each .deb's Size)
 * from 0 up to done === total, bytes === totalBytes; the import of what was
 * fetched reports files validated out of the total; apt's status lines and
 * per-file "Get:" lines do not reach the log.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Shell } from '../../src/shell.js';
import type { ProgressEvent } from '../../src/progress.js';
import type { MirrorContext } from '../../src/mirror/context.js';
import { warmRecipes } from '../../src/mirror/warm.js';
import { stopGpgAgent } from '../../src/mirror/keys.js';
import { makeConfig, makeRecipe } from '../helpers/config.js';
import { makeUpstream } from '../helpers/upstream-repo.js';

const base = mkdtempSync(join(tmpdir(), 'nk-progress-warm-'));
const up = makeUpstream(join(base, 'upstream'), 'bookworm');
up.add('bookworm', { name: 'base-a', version: '1.0', priority: 'required' });
up.add('bookworm', { name: 'usr-is-merged', version: '37' });
up.add('bookworm', { name: 'apt', version: '2.6', depends: 'base-a' });
up.add('bookworm', { name: 'tool', version: '1.0' });
up.add('bookworm-updates', { name: 'tool', version: '1.1' });

const config = makeConfig(base);
const lines: string[] = [];
const events: ProgressEvent[] = [];
const ctx: MirrorContext = { sh: new Shell({ log: (l) => lines.push(l), progress: (e) => events.push({ ...e }) }), config, log: (l) => lines.push(l) };
const recipe = makeRecipe({
  name: 'fixture',
  codename: 'bookworm',
  variant: 'minbase',
  upstream: up.archive,
  updates: true,
  suites: ['bookworm', 'bookworm-updates', 'bookworm-security'],
  upstreams: { bookworm: up.archive, 'bookworm-updates': up.archive, 'bookworm-security': up.security },
  packages: ['tool'],
});

test('warm: download progress counts packages and bytes up to the totals of the lists; then validation up to the total', async () => {
  const report = await warmRecipes(ctx, [recipe], { keyring: up.keyring });
  const r = report.recipes[0];
  assert.ok(r);
  assert.equal(r.warnings, []);
  assert.is(r.downloaded, 4, 'base-a, usr-is-merged, apt and the newest tool');
  const download = events.filter((e) => e.stage === 'download fixture');
  assert.ok(download.length >= 2, JSON.stringify(events));
  for (const e of download) {
    assert.is(e.unit, 'packages');
    assert.is(e.total, 4);
    assert.is(e.totalBytes, r.bytesDownloaded, 'the lists\' sizes are the bytes that landed');
  }
  assert.equal(download[0], { stage: 'download fixture', done: 0, total: 4, unit: 'packages', bytes: 0, totalBytes: r.bytesDownloaded });
  assert.equal(download.at(-1), { stage: 'download fixture', done: 4, total: 4, unit: 'packages', bytes: r.bytesDownloaded, totalBytes: r.bytesDownloaded });
  for (let i = 1; i < download.length; i++) {
    const [a, b] = [download[i - 1] as ProgressEvent, download[i] as ProgressEvent];
    assert.ok(b.done >= a.done && (b.bytes ?? 0) >= (a.bytes ?? 0), `never backwards: ${JSON.stringify(download)}`);
  }
  const validate = events.filter((e) => e.stage === 'validate fixture');
  assert.equal(validate[0], { stage: 'validate fixture', done: 0, total: 4, unit: 'files' });
  assert.equal(validate.at(-1), { stage: 'validate fixture', done: 4, total: 4, unit: 'files' });
  // Only these two stages report progress; the log has no apt status or per-file line.
  assert.equal([...new Set(events.map((e) => e.stage))], ['download fixture', 'validate fixture']);
  // (apt-get update's "Get:" lines of the index files stay: they are not per .deb.)
  assert.ok(lines.some((l) => /^fixture: Get:\d+ \S+ bookworm InRelease /.test(l)), lines.join('\n'));
  assert.not.ok(lines.some((l) => /dlstatus:|: Get:\d+ \S+ \S+ amd64 \S+ (amd64|all) /.test(l)), lines.join('\n'));
});

test('warm again: nothing to download, no download progress', async () => {
  events.length = 0;
  const report = await warmRecipes(ctx, [recipe], { keyring: up.keyring });
  assert.is(report.downloaded, 0);
  assert.equal(events, []);
});

test.after(async () => {
  await stopGpgAgent(ctx);
  up.cleanup();
  rmSync(base, { recursive: true, force: true });
});

test.run();
