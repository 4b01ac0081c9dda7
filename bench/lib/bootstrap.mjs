/**
 * Case 2 (issues 4 and 7): a bookworm-minimal root file system. debootstrap
 * from the upstream (network, once); from the local signed mirror:
 * debootstrap and mmdebstrap with exactly the argv nspawn-kit uses
 * (rootfs/backends.ts), `nspawn-kit create` with a cold and a warm base
 * cache, and `cp -a` of the finished root as the floor.
 *
 * The local mirror (and its signing key) is kept under the fixture directory,
 * so a rerun only checks that nothing new is needed.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURE_ROOT } from './debgen.mjs';
import { cleanup, errorRow, stopGpgAgent, log, makeConfig, median, row, runChild, skipRow, tempDir, timeCommand } from './util.mjs';

const DIST = new URL('../../dist/', import.meta.url);
const load = (p) => import(new URL(p, DIST).href);
const RECIPE = 'bookworm-minimal';
const group = 'bootstrap';

export async function bootstrapCase(plan) {
  const rows = [];
  const memory = [];
  const { detectHost } = await load('config/host.js');
  const { withDebootstrapMirrors } = await load('config/load.js');
  const { resolveRecipe } = await load('config/recipes.js');
  const { bootstrapCommand, bootstrapSpec } = await load('rootfs/backends.js');
  const fixture = join(FIXTURE_ROOT, 'mirror-bookworm-minimal');
  const work = tempDir('bootstrap');
  const config = makeConfig(fixture, { machines: { dir: join(work, 'machines'), settingsDir: join(work, 'nspawn'), unitDir: join(work, 'units') } });
  // Upstream: NSPAWN_KIT_BENCH_UPSTREAM, else what nspawn-kit itself resolves (host apt sources, debootstrap's default).
  if (process.env.NSPAWN_KIT_BENCH_UPSTREAM) config.mirror.upstreams = { bookworm: process.env.NSPAWN_KIT_BENCH_UPSTREAM };
  const host = await withDebootstrapMirrors({ ...config, host: await detectHost() });
  const recipe = resolveRecipe({ ...config, host }, RECIPE);
  const arch = host.architecture;
  const baseDir = join(config.stateDir, 'base');
  // Overlay machines keep their upper and work dirs under the (persistent) fixture's state dir,
  // mounted at machines under this run's work dir: both go with the run (a previous run's too).
  const overlayDir = join(config.stateDir, 'overlay');
  rmSync(overlayDir, { recursive: true, force: true });
  try {
    // ---- the local signed mirror, warmed for the recipe ----
    const warmed = existsSync(join(config.mirror.root, 'dists', 'bookworm', 'InRelease'));
    log(`bootstrap: mirror warm ${RECIPE}${warmed ? ' (fixture exists: expect nothing to download)' : ' (first time: downloads from the upstream)'}`);
    mkdirSync(join(fixture, 'archives'), { recursive: true });
    try {
      const w = await runChild('warm', { config, recipe: RECIPE }, work);
      memory.push(['mirror warm', RECIPE, w]);
      rows.push({
        ...row(group, `nspawn-kit mirror warm ${RECIPE}${w.downloaded ? ' (downloading)' : ' (again, nothing new)'}`, [w.totalMs], { note: `${w.downloaded} .debs downloaded; once` }),
        noChart: true,
      });
    } catch (err) {
      if (!existsSync(join(config.mirror.root, 'dists', 'bookworm', 'InRelease'))) throw err;
      rows.push(errorRow(group, `nspawn-kit mirror warm ${RECIPE}`, err));
    }
    const spec = (backend, target) =>
      bootstrapSpec({ ...recipe, bootstrap: backend }, { architecture: arch, target, mirrorRoot: config.mirror.root, keyring: join(config.mirror.root, 'mirror.gpg') });

    const backend = async (name, backendName) => {
      const samples = [];
      for (let i = 0; i < plan.bootReps; i++) {
        const target = join(work, `${backendName}-${i}`);
        log(`bootstrap: ${name} ${i + 1}/${plan.bootReps}`);
        try {
          const [cli, args] = bootstrapCommand(spec(backendName, target));
          samples.push(timeCommand(cli, args).ms);
        } finally {
          cleanup(target);
        }
      }
      return samples;
    };

    let deb = [];
    try {
      deb = await backend('debootstrap (local mirror)', 'debootstrap');
    } catch (err) {
      rows.push(errorRow(group, 'debootstrap, local signed mirror', err));
    }
    const debRef = deb.length ? { label: 'debootstrap local', median: median(deb) } : undefined;
    if (deb.length) rows.push(row(group, 'debootstrap minbase, local signed mirror (file://)', deb, { reference: debRef, note: 'reference; --keyring mirror.gpg' }));

    try {
      const mm = await backend('mmdebstrap (local mirror)', 'mmdebstrap');
      rows.push(row(group, 'mmdebstrap minbase, local signed mirror (copy://, merged-usr hook)', mm, { reference: debRef }));
    } catch (err) {
      rows.push(errorRow(group, 'mmdebstrap, local signed mirror', err));
    }

    // ---- nspawn-kit create, cold then warm base cache ----
    const settings = join(work, 'nspawn-settings');
    const createJob = (name) => ({ config, recipe: RECIPE, name, settingsDir: settings, unitDir: join(work, 'units') });
    let cpRef;
    if (!existsSync(new URL('machine/create.js', DIST))) {
      rows.push(skipRow(group, 'nspawn-kit create (cold, warm)', 'src/machine/create.ts has not landed'));
    } else {
      const cold = [];
      try {
        for (let i = 0; i < plan.bootReps; i++) {
          log(`bootstrap: nspawn-kit create, cold base cache ${i + 1}/${plan.bootReps}`);
          rmSync(baseDir, { recursive: true, force: true });
          const r = await runChild('create', createJob(`bench-cold-${i}`), work);
          if (r.fromBaseCache) throw new Error('cold create reported a base cache hit');
          cold.push(r.totalMs);
          memory.push(['create (cold base cache)', RECIPE, r]);
          cleanup(r.root);
        }
        rows.push(
          row(group, `nspawn-kit create ${RECIPE}, cold base cache`, cold, {
            reference: debRef,
            target: debRef ? { text: '≤ 1.2x debootstrap alone', ok: (m, ref) => m <= 1.2 * ref } : undefined,
            note: `bootstrap + apt-get install of ${recipe.packages.length} recipe packages in systemd-nspawn + store base + clone + inject`,
          }),
        );
      } catch (err) {
        rows.push(errorRow(group, `nspawn-kit create ${RECIPE}, cold base cache`, err));
      }
      // The floor: cp -a of the finished root (the stored base).
      const base = existsSync(baseDir) ? (await import('node:fs')).readdirSync(baseDir).find((d) => d.startsWith(`${RECIPE}-`)) : undefined;
      if (base) {
        const cp = [];
        for (let i = 0; i < plan.warmReps; i++) {
          const target = join(work, `cp-${i}`);
          try {
            cp.push(timeCommand('cp', ['-a', '--', join(baseDir, base), target]).ms);
          } finally {
            cleanup(target);
          }
        }
        cpRef = { label: 'cp -a', median: median(cp) };
        rows.push(row(group, 'cp -a of the finished root file system', cp, { reference: debRef, note: 'the floor' }));
      }
      const warm = [];
      try {
        for (let i = 0; i < plan.warmReps; i++) {
          log(`bootstrap: nspawn-kit create, warm base cache ${i + 1}/${plan.warmReps}`);
          const r = await runChild('create', createJob(`bench-warm-${i}`), work);
          if (!r.fromBaseCache) throw new Error('warm create did not use the base cache');
          if (r.storage !== 'overlay') throw new Error(`warm create made storage ${r.storage}, expected an overlay (machines.clone "auto")`);
          warm.push(r.totalMs);
          memory.push(['create (warm base cache)', RECIPE, r]);
          cleanup(r.root);
        }
        rows.push(
          row(group, `nspawn-kit create ${RECIPE}, warm base cache`, warm, {
            reference: debRef,
            note: 'machines.clone "auto": an overlay over the cached base',
            target: debRef ? { text: '≤ 5% of debootstrap', ok: (m, ref) => m <= 0.05 * ref } : undefined,
          }),
        );
        if (cpRef) {
          rows.push(
            {
              ...row(group, `nspawn-kit create ${RECIPE}, warm base cache (vs cp -a)`, warm, {
                reference: cpRef,
                target: { text: '≤ 3x cp -a', ok: (m, ref) => m <= 3 * ref },
                note: 'same samples as the row above',
              }),
              noChart: true,
            },
          );
        }
      } catch (err) {
        rows.push(errorRow(group, `nspawn-kit create ${RECIPE}, warm base cache`, err));
      }
      // The same with machines.clone "copy" (the machine a full copy of the base, as before overlays).
      const warmCopy = [];
      try {
        const copyConfig = { ...config, machines: { ...config.machines, clone: 'copy' } };
        for (let i = 0; i < plan.warmReps; i++) {
          log(`bootstrap: nspawn-kit create, warm base cache, machines.clone copy ${i + 1}/${plan.warmReps}`);
          const r = await runChild('create', { ...createJob(`bench-warm-copy-${i}`), config: copyConfig }, work);
          if (!r.fromBaseCache) throw new Error('warm create did not use the base cache');
          if (r.storage !== 'copy') throw new Error(`machines.clone "copy" made storage ${r.storage}`);
          warmCopy.push(r.totalMs);
          memory.push(['create (warm base cache, copy)', RECIPE, r]);
          cleanup(r.root);
        }
        rows.push(
          row(group, `nspawn-kit create ${RECIPE}, warm base cache, machines.clone "copy"`, warmCopy, {
            reference: cpRef ?? debRef,
            target: cpRef ? { text: '≤ 3x cp -a', ok: (m, ref) => m <= 3 * ref } : undefined,
            note: 'a full copy of the base instead of an overlay',
          }),
        );
      } catch (err) {
        rows.push(errorRow(group, `nspawn-kit create ${RECIPE}, warm base cache, machines.clone "copy"`, err));
      }
    }

    // ---- debootstrap from the upstream: network, once ----
    const netTarget = join(work, 'net');
    try {
      log(`bootstrap: debootstrap from ${recipe.upstream} (network, once)`);
      const probe = timeCommand('bash', ['-c', 'exec 3<>/dev/tcp/"$1"/80', 'bash', new URL(recipe.upstream).hostname], { nothrow: true });
      if (probe.status !== 0) {
        rows.push(skipRow(group, 'debootstrap minbase from the upstream (network)', `${recipe.upstream} unreachable`));
      } else {
        const t = timeCommand('debootstrap', ['--variant=minbase', `--components=${recipe.components.join(',')}`, `--arch=${arch}`, recipe.codename, netTarget, recipe.upstream]);
        rows.push(row(group, `debootstrap minbase from ${recipe.upstream} (network)`, [t.ms], { reference: debRef, note: 'once, even in full mode' }));
      }
    } catch (err) {
      rows.push(errorRow(group, 'debootstrap from the upstream (network)', err));
    } finally {
      cleanup(netTarget);
    }
  } finally {
    cleanup(work);
    // Base caches and overlay machines are per run; the mirror and its key stay for the next run.
    rmSync(baseDir, { recursive: true, force: true });
    rmSync(overlayDir, { recursive: true, force: true });
    stopGpgAgent(join(config.stateDir, 'gnupg'));
  }
  return { rows, memory };
}
