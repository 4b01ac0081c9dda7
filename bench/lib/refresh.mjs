/**
 * Case (issue 13): the nightly `mirror refresh` on the qgis recipe's mirror
 * when nothing changed upstream. The mirror is warmed for the qgis recipe
 * once (kept under the fixture directory, so a rerun downloads nothing),
 * then `mirror refresh` runs twice; the second run is reported: its time,
 * the .debs it downloaded (expected: none) and the bytes apt reported
 * fetching for the package lists (the update suites' root and the
 * refresh recipes' warm roots), plus the list bytes apt rewrote.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURE_ROOT } from './debgen.mjs';
import { log, makeConfig, row, runChild, tempDir, cleanup } from './util.mjs';

const RECIPE = 'qgis';
const group = 'refresh';
const kb = (n) => `${(n / 1000).toFixed(1)} kB`;

export async function refreshCase() {
  const rows = [];
  const memory = [];
  const fixture = join(FIXTURE_ROOT, 'mirror-qgis');
  const work = tempDir('refresh');
  // No archive directories: the refresh's import step has nothing to read.
  const config = makeConfig(fixture, { mirror: { ...makeConfig(fixture).mirror, archives: [] } });
  if (process.env.NSPAWN_KIT_BENCH_UPSTREAM) config.mirror.upstreams = { bookworm: process.env.NSPAWN_KIT_BENCH_UPSTREAM };
  mkdirSync(fixture, { recursive: true });
  try {
    const warmed = existsSync(join(config.mirror.root, 'dists', 'bookworm', 'InRelease'));
    log(`refresh: mirror warm ${RECIPE}${warmed ? ' (fixture exists: expect nothing to download)' : ' (first time: downloads the qgis closure from the upstream)'}`);
    const w = await runChild('warm', { config, recipe: RECIPE }, work);
    memory.push(['mirror warm', RECIPE, w]);
    rows.push({ ...row(group, `nspawn-kit mirror warm ${RECIPE}${w.downloaded ? ' (downloading)' : ' (again, nothing new)'}`, [w.totalMs], { note: `${w.downloaded} .debs downloaded; once` }), noChart: true });
    log('refresh: mirror refresh, first run (fills the update suites\' private root)');
    const first = await runChild('refresh', { config }, work);
    memory.push(['mirror refresh (first)', RECIPE, first]);
    log(`refresh: first run: ${first.summary.split('\n').join(' | ')}`);
    log('refresh: mirror refresh, second run (nothing changed upstream)');
    const second = await runChild('refresh', { config }, work);
    memory.push(['mirror refresh', RECIPE, second]);
    log(`refresh: second run: ${second.summary.split('\n').join(' | ')}`);
    const u = second.updates ?? { checked: 0, downloaded: 0, bytesDownloaded: 0, listBytes: 0, listBytesWritten: 0 };
    const debs = u.downloaded + second.warm.downloaded;
    const debBytes = u.bytesDownloaded + second.warm.bytesDownloaded;
    const lists = u.listBytes + second.warm.listBytes;
    rows.push(
      row(group, `nspawn-kit mirror refresh, ${RECIPE} mirror, nothing changed upstream`, [second.totalMs], {
        target: { text: 'zero .debs downloaded', ok: () => debs === 0 },
        note:
          `${u.checked} packages checked; ${debs} .debs downloaded (${kb(debBytes)}); ` +
          `lists fetched (apt's "Fetched"): ${kb(lists)} (update suites ${kb(u.listBytes)}, warm roots ${kb(second.warm.listBytes)}); ` +
          `list files rewritten: ${kb(u.listBytesWritten)}; first run ${(first.totalMs / 1000).toFixed(1)} s` +
          (second.problems.length ? `; ${second.problems.length} problem(s): ${second.problems[0]}` : ''),
      }),
    );
    return { rows, memory };
  } finally {
    cleanup(work);
  }
}
