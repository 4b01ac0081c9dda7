/**
 * Indexing of one suite for the publisher, with its two guarantees:
 *   - one bad file never takes the suite down: a file apt-ftparchive cannot
 *     index is quarantined, taken out of the suite list, reported by name
 *     with the indexer's message, and the rest is indexed again without it;
 *   - the index never disagrees with the pool: a stanza that does not name
 *     its pool file as validated (index-check.ts) quarantines that file and
 *     stops the suite's publication before anything is signed.
 */
import { join } from 'node:path';
import { OperationError } from '../errors.js';
import { progress, type MirrorContext } from './context.js';
import { printable } from './deb.js';
import { generatePackages } from './ftparchive.js';
import type { ArchIndex } from './packages-index.js';
import { IndexingFailed } from './ftparchive-run.js';
import { quarantineFiles } from './import-state.js';
import { checkStanzas, indexStanzas, validatedFiles, type Disagreement } from './index-check.js';
import { mirrorLayout } from './layout.js';
import { loadPoolIndex, savePoolIndex } from './pool.js';
import { stagedOverrides } from './overrides.js';
import { removeFromSuite } from './suites.js';

/** The suite's publication was refused: the index would have misnamed these pool files. */
export class IndexDisagrees extends OperationError {
  constructor(
    readonly codename: string,
    readonly files: Disagreement[],
  ) {
    super(
      `refused to sign ${codename}: the index disagrees with what nspawn-kit validated for ${files.map((f) => `${printable(f.file)} (${f.reason})`).join('; ')}; quarantined and taken out of the suite; the previous publication is still live`,
      'See `nspawn-kit status` for the quarantine; `nspawn-kit mirror publish` publishes the suite without them.',
    );
  }
}

export interface SuiteIndex {
  indices: ArchIndex[];
  /** Files dropped because the indexer could not read them. */
  quarantined: Disagreement[];
}

export async function indexSuite(
  ctx: MirrorContext,
  codename: string,
  members: string[],
  outDir: string,
  parts: number | undefined,
): Promise<SuiteIndex> {
  const architectures = ctx.config.mirror.architectures;
  const quarantined: Disagreement[] = [];
  let current = members;
  let indices: ArchIndex[];
  // Priority and Section as the upstream's index gives them (made again only when a list changed).
  const override = await stagedOverrides(ctx.sh, mirrorLayout(ctx.config), codename, members, outDir, (w) => progress(ctx, w));
  for (;;) {
    try {
      indices = await generatePackages(ctx, { members: current, architectures, outDir, parts, override });
      break;
    } catch (err) {
      if (!(err instanceof IndexingFailed)) throw err;
      const bad = [...err.badFiles].filter(([file]) => current.includes(file)).map(([file, message]) => ({ file, reason: `apt-ftparchive could not index it: ${printable(message)}` }));
      // Every round drops at least one file, or fails: the loop ends.
      if (!bad.length) throw err;
      await dropFiles(ctx, codename, bad);
      quarantined.push(...bad);
      const drop = new Set(bad.map((b) => b.file));
      current = current.filter((m) => !drop.has(m));
    }
  }
  if (ctx.sh.dryRun) return { indices, quarantined };
  const layout = mirrorLayout(ctx.config);
  const stanzas = indices.flatMap((i) => indexStanzas(i.forms.find((f) => f.name === 'Packages')?.data.toString('utf8') ?? ''));
  const indexed = new Map(stanzas.map((s) => [s['Filename'] ?? '', s['SHA256'] ?? ''] as const));
  const poolIndex = await loadPoolIndex(layout);
  const recorded = { count: 0 };
  const disagreements = checkStanzas(stanzas, await validatedFiles(ctx, layout, poolIndex, indexed, recorded));
  // Files validated here for want of a record are recorded: the next publish does not inspect them again.
  if (recorded.count && !ctx.sh.dryRun) await savePoolIndex(ctx.sh, layout, poolIndex);
  if (disagreements.length) {
    await dropFiles(ctx, codename, disagreements);
    throw new IndexDisagrees(codename, disagreements);
  }
  return { indices, quarantined };
}

/** Quarantined (by absolute pool path, as `status` lists files) and out of the suite list. */
async function dropFiles(ctx: MirrorContext, codename: string, files: Disagreement[]): Promise<void> {
  const layout = mirrorLayout(ctx.config);
  for (const f of files) progress(ctx, `${codename}: quarantined ${printable(f.file)}: ${f.reason}`);
  if (ctx.sh.dryRun) return;
  await quarantineFiles(ctx.sh, layout, files.map((f) => ({ file: join(layout.root, f.file), reason: `${codename}: ${f.reason}` })));
  await removeFromSuite(ctx.sh, layout, codename, files.map((f) => f.file));
}
