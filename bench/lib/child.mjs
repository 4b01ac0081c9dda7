/**
 * One measured nspawn-kit operation in its own process, so its peak memory is
 * its own: `node bench/lib/child.mjs OP JOB.json`. Imports the built library
 * (dist/). The last stdout line is a JSON result with timings and
 * process.resourceUsage().maxRSS. (The watcher is measured as users run it,
 * through the CLI: see watch.mjs.)
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

const DIST = new URL('../../dist/', import.meta.url);
const load = (p) => import(new URL(p, DIST).href);

const [op, jobFile] = process.argv.slice(2);
const job = JSON.parse(readFileSync(jobFile, 'utf8'));
const { Shell } = await load('shell.js');
const { detectHost } = await load('config/host.js');
const { exitOnSignals } = await load('exit-hooks.js');
// An entry point: SIGINT/SIGTERM remove an unfinished build (exit hooks).
exitOnSignals();
const sh = new Shell({ log: () => {} });
const { withDebootstrapMirrors } = await load('config/load.js');
// Host facts as loadConfig fills them: detected once, then debootstrap's default mirror of the recipes' suites.
const config = { ...job.config, host: await withDebootstrapMirrors({ ...job.config, host: await detectHost() }) };
const ctx = { sh, config, log: () => {} };

const emit = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
const finish = (result) => {
  emit({ ok: true, ...result, maxRssKb: process.resourceUsage().maxRSS });
  process.exit(0);
};

async function timed(fn) {
  const t = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - t };
}

const ops = {
  /** Import (files, or every archive) then publish, as `mirror import && mirror publish` would. */
  async 'import-publish'() {
    const { importFiles, importArchives } = await load('mirror/import.js');
    const { archiveOwner } = await load('triggers/archive-owner.js');
    const { publishMirror } = await load('mirror/publish.js');
    const t0 = performance.now();
    let importMs = 0;
    let imported;
    if (job.files || job.archives) {
      const r = await timed(() =>
        job.files ? importFiles(ctx, job.files.map((path) => ({ path, codename: job.codename }))) : importArchives(ctx, config.mirror.archives, archiveOwner),
      );
      importMs = r.ms;
      imported = { imported: r.value.imported.length, rejected: r.value.rejected.length, unchanged: r.value.unchanged };
      if (r.value.rejected.length) throw new Error(`rejected: ${JSON.stringify(r.value.rejected.slice(0, 3))}`);
    }
    let publishMs = 0;
    let packages;
    if (job.publish !== false) {
      const r = await timed(() => publishMirror(ctx, { codenames: [job.codename] }));
      publishMs = r.ms;
      packages = r.value.suites[0]?.packages;
    }
    finish({ importMs, publishMs, totalMs: performance.now() - t0, imported, packages });
  },

  /** `mirror warm <recipe>` (network: downloads what is missing). */
  async warm() {
    const { warmRecipes } = await load('mirror/warm.js');
    const { resolveRecipe } = await load('config/recipes.js');
    const recipe = resolveRecipe(config, job.recipe);
    const r = await timed(() => warmRecipes(ctx, [recipe]));
    finish({ totalMs: r.ms, downloaded: r.value.downloaded, summary: r.value.summary });
  },

  /** `mirror refresh` (the nightly job: import, warm the refresh recipes, fetch the update suites' newer versions, gc, publish). */
  async refresh() {
    const { refreshMirror } = await load('mirror/refresh.js');
    const { archiveOwner } = await load('triggers/archive-owner.js');
    const r = await timed(() => refreshMirror(ctx, archiveOwner, { wait: false }));
    const u = r.value.updates;
    finish({
      totalMs: r.ms,
      warm: r.value.warm,
      updates: u && { checked: u.checked, newer: u.newer, downloaded: u.downloaded, bytesDownloaded: u.bytesDownloaded, listBytes: u.listBytes, listBytesWritten: u.listBytesWritten },
      problems: r.value.problems,
      summary: r.value.summary,
    });
  },

  /** `nspawn-kit create <recipe> --name NAME` (settings files into temp dirs). */
  async create() {
    const { createMachine } = await load('machine/create.js');
    const { resolveRecipe } = await load('config/recipes.js');
    const recipe = resolveRecipe(config, job.recipe);
    const r = await timed(() => createMachine({ sh, config }, recipe, job.name, { settingsDir: job.settingsDir, unitDir: job.unitDir }));
    finish({ totalMs: r.ms, fromBaseCache: r.value.fromBaseCache, storage: r.value.storage, root: r.value.root });
  },
};

const fn = ops[op];
if (!fn) {
  process.stderr.write(`unknown op ${op}\n`);
  process.exit(2);
}
try {
  await fn();
} catch (err) {
  emit({ ok: false, error: err instanceof Error ? `${err.message}${err.hint ? ` (${err.hint})` : ''}` : String(err), maxRssKb: process.resourceUsage().maxRSS });
  process.exit(1);
}
