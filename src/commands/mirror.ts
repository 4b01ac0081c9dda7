/** `mirror import|publish|warm|refresh|gc|verify|serve` and `status`. */
import { claimSignals } from '../exit-hooks.js';
import type { ProgramCommand } from './action.js';
import { resolveRecipe } from '../config/recipes.js';
import { createContext, type AppContext, type GlobalOptions } from '../context.js';
import { OperationError, UsageError } from '../errors.js';
import { safe } from '../escape.js';
import { printEventLine, printResult } from './output.js';
import { mirrorContext } from '../mirror/context.js';
import { gcMirror, summarizeGc } from '../mirror/gc.js';
import { formatImportReport, importArchives } from '../mirror/import.js';
import { assertImportDir } from '../mirror/import-from.js';
import { publishMirror } from '../mirror/publish.js';
import { printable } from '../mirror/deb.js';
import { refreshMirror } from '../mirror/refresh.js';
import { serveMirror } from '../mirror/serve.js';
import { formatStatus, mirrorStatus } from '../mirror/status.js';
import { verifyMirror } from '../mirror/verify.js';
import { summarizeWarm, warmRecipes } from '../mirror/warm.js';
import { CODENAME } from '../mirror/suites.js';
import { withMirrorWrite } from '../mirror/write-guard.js';
import { archiveOwner } from '../triggers/archive-owner.js';

/** The one stdout sink of these commands (output.ts). */
function print(app: AppContext, json: unknown, text: string | string[]): void {
  printResult(app.opts, json, text);
}

export function registerMirror(program: ProgramCommand, globals: () => GlobalOptions): void {
  const mirror = program.command('mirror').description('the local signed apt mirror');
  const noWait = (c: ProgramCommand) => c.option('--no-wait', 'fail at once if another process writes the mirror');

  noWait(
    mirror
      .command('import')
      .description('validate .debs from the archive directories and copy them atomically into the pool (sources are never changed)')
      .option('--from <dir>', "import from this directory only (needs --codename; a machine's directory under machines.dir passes the machines' trust check)")
      .option('--codename <name>', 'suite the --from packages are filed under'),
  ).action(async (o: { from?: string; codename?: string; wait: boolean }) => {
    const app = await createContext(globals());
    if (Boolean(o.from) !== Boolean(o.codename)) throw new UsageError('--from and --codename go together');
    if (o.codename && !CODENAME.test(o.codename)) throw new UsageError(safe`--codename: "${o.codename}" is not a codename like "bookworm"`);
    const archives = o.from && o.codename ? [{ path: o.from, codename: o.codename }] : app.config.mirror.archives;
    if (o.from && o.codename) {
      assertImportDir(o.from);
      // A directory under machines.dir is a machine's: imported as its files (trust check), under its own codename only.
      const owner = await archiveOwner(app.config.machines.dir, o.from);
      if ('refused' in owner) throw new UsageError(safe`--from ${owner.refused}`);
      if (!owner.admin && owner.codename !== o.codename) {
        throw new UsageError(safe`--from ${o.from} is machine ${owner.machine}'s directory; its files go only into ${owner.codename} (its provenance record): use --codename ${owner.codename}`);
      }
    }
    const report = await withMirrorWrite(mirrorContext(app), () => importArchives(mirrorContext(app), archives, archiveOwner), { wait: o.wait });
    print(app, report, formatImportReport(report));
    return report.rejected.length || report.conflicts.length ? 1 : 0;
  });

  noWait(mirror.command('publish').description('index, sign and publish every suite (staged; InRelease last)').option('--codename <name...>', 'only these suites')).action(
    async (o: { codename?: string[]; wait: boolean }) => {
      const app = await createContext(globals());
      const report = await withMirrorWrite(mirrorContext(app), () => publishMirror(mirrorContext(app), { codenames: o.codename }), { wait: o.wait });
      print(
        app,
        report,
        report.suites.length === 0
          ? 'nothing to publish: no suite has packages yet (run `nspawn-kit mirror import` or `mirror warm RECIPE` first)'
          : report.suites.flatMap((s) => [
              `${s.codename}: ${s.packages} packages, ${s.bytes} bytes, InRelease sha256 ${s.inReleaseSha256.slice(0, 16)}… (${Math.round(s.durationMs)} ms)`,
              ...s.quarantined.map((q) => `  quarantined: ${printable(q.file)}: ${q.reason}`),
            ]),
      );
      // Published without them, but a file was dropped: like a rejected import, exit 1.
      return report.suites.some((s) => s.quarantined.length) ? 1 : 0;
    },
  );

  noWait(mirror.command('warm').description('download everything the recipes need into the mirror, then publish').argument('<recipe...>')).action(
    async (names: string[], o: { wait: boolean }) => {
      const app = await createContext(globals());
      const recipes = names.map((n) => resolveRecipe(app.config, n));
      const report = await withMirrorWrite(mirrorContext(app), () => warmRecipes(mirrorContext(app), recipes), { wait: o.wait });
      print(app, report, summarizeWarm(report));
    },
  );

  noWait(mirror.command('refresh').description('import from all archives, warm the recipes marked "refresh", gc, publish (the nightly job)')).action(
    async (o: { wait: boolean }) => {
      const app = await createContext(globals());
      const report = await refreshMirror(mirrorContext(app), archiveOwner, { wait: o.wait });
      print(app, report, report.summary);
      return report.problems.length ? 1 : 0;
    },
  );

  noWait(mirror.command('gc').description('keep the newest `mirror.keep` versions per package and suite; pool files go after the grace period')).action(
    async (o: { wait: boolean }) => {
      const app = await createContext(globals());
      const report = await withMirrorWrite(mirrorContext(app), () => gcMirror(mirrorContext(app), { dryRun: app.sh.dryRun }), { wait: o.wait });
      print(app, report, summarizeGc(report));
    },
  );

  mirror
    .command('verify')
    .description('check signatures, expiry and every pool file against the published indices')
    .action(async () => {
      const app = await createContext(globals());
      const report = await verifyMirror(mirrorContext(app));
      const warnings = report.warnings.map((w) => `  warning: ${w}`);
      print(
        app,
        report,
        report.ok
          ? [`mirror verified: ${report.suites.length} suite(s), no problems`, ...warnings]
          : ['mirror verify found problems:', ...report.problems.map((p) => `  - ${p}`), ...warnings],
      );
      return !report.ok ? 1 : 0;
    });

  mirror
    .command('serve')
    .description('serve the mirror over HTTP (GET, HEAD, ranges, conditional requests); loopback by default')
    .option('--port <n>', 'port (default 8080; 0 picks a free one)', '8080')
    .option('--host <addr>', 'address to listen on', '127.0.0.1')
    .action(async (o: { port: string; host: string }) => {
      const app = await createContext(globals());
      const port = Number(o.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(safe`--port: "${o.port}" is not a port number`);
      const server = await serveMirror(app.config.mirror.root, { host: o.host, port, log: app.opts.verbose ? app.log : undefined }).catch((err: Error) => {
        if (err instanceof OperationError) throw err;
        throw new OperationError(`cannot listen on ${o.host}:${port}: ${err.message}`, 'Pick another --port or stop what listens there.');
      });
      // Under --json, JSON lines on stdout: listening, then stopped (request lines of --verbose are log events on stderr).
      if (app.opts.json) printEventLine('listening', { url: server.url, root: app.config.mirror.root });
      else app.log(`serving ${app.config.mirror.root} at ${server.url} (Ctrl-C to stop)`);
      await new Promise<void>((resolveStop) => {
        // serve stops itself gracefully: the entry point leaves the signals to it (exit-hooks.ts).
        const release = claimSignals();
        const stop = () => void server.close().then(resolveStop).finally(release);
        for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(sig, stop);
      });
      if (app.opts.json) printEventLine('stopped', { url: server.url });
    });

  program
    .command('status')
    .description('per suite: packages, bytes, last publish, key fingerprint, Valid-Until, quarantined files')
    .action(async () => {
      const app = await createContext(globals());
      const status = await mirrorStatus(mirrorContext(app));
      print(app, status, formatStatus(status));
    });
}
