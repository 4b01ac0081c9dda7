/**
 * Case 1 (issue 3): publishing synthetic pools of N .debs. nspawn-kit's
 * incremental publish (+10 new .debs: import + index + sign) and full publish
 * (index cache dropped), beside apt-ftparchive alone, apt-ftparchive --db,
 * dpkg-scanpackages and apt-move's own `packages`.
 */
import { mkdirSync, openSync, closeSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { syntheticArchive, writeDeb } from './debgen.mjs';
import { aptMoveRows } from './aptmove.mjs';
import { cleanup, errorRow, log, makeConfig, median, row, runChild, skipRow, tempDir, timeCommand } from './util.mjs';

const CODENAME = 'bookworm';

/** apt-ftparchive/dpkg-scanpackages write their index to this file, as a script would. */
function toFile(path) {
  return openSync(path, 'w');
}

export async function publishCase(n, opts) {
  const rows = [];
  const memory = [];
  const group = 'publish';
  const label = n.toLocaleString('en-US');
  const base = tempDir(`publish-${n}`);
  try {
    log(`publish ${label}: fixtures`);
    const archive = syntheticArchive(n);
    const config = makeConfig(base);
    config.mirror.archives = [{ path: archive, codename: CODENAME }];
    const root = config.mirror.root;
    const cacheDir = join(config.stateDir, 'mirror', 'cache');

    log(`publish ${label}: first import (validates every .deb) and publish (creates the key)`);
    const first = await runChild('import-publish', { config, archives: true, codename: CODENAME }, base);
    if (first.packages !== n) throw new Error(`first publish listed ${first.packages} packages, expected ${n}`);
    rows.push(row(group, `first import of ${label} .debs (full validation) + publish`, [first.totalMs], { note: `import ${(first.importMs / 1000).toFixed(1)} s, publish ${(first.publishMs / 1000).toFixed(2)} s; once` }));
    memory.push(['import + publish', label, first]);

    const idx = join(base, 'ref-index');
    const refDb = join(base, 'ref-packages.db');
    // Prime the reference --db cache, as a cron script would have it.
    timeCommand('apt-ftparchive', ['--db', refDb, 'packages', 'pool'], { cwd: root, stdout: toFile(idx) });

    const full = [];
    const plain = [];
    // apt-ftparchive with the checksum set nspawn-kit's Packages carry (Debian's: MD5sum and SHA256).
    const sameSums = [];
    const sumOpts = ['-o', 'APT::FTPArchive::Packages::SHA1=false', '-o', 'APT::FTPArchive::Packages::SHA512=false'];
    for (let i = 0; i < opts.fullReps; i++) {
      log(`publish ${label}: full ${i + 1}/${opts.fullReps}`);
      rmSync(cacheDir, { recursive: true, force: true });
      const r = await runChild('import-publish', { config, publish: true, codename: CODENAME }, base);
      full.push(r.publishMs);
      memory.push(['publish (full)', label, r]);
      const fd = toFile(idx);
      plain.push(timeCommand('apt-ftparchive', ['packages', 'pool'], { cwd: root, stdout: fd }).ms);
      closeSync(fd);
      const fd2 = toFile(idx);
      sameSums.push(timeCommand('apt-ftparchive', [...sumOpts, 'packages', 'pool'], { cwd: root, stdout: fd2 }).ms);
      closeSync(fd2);
    }

    const incr = [];
    const incrWall = [];
    const incrImport = [];
    const dbIncr = [];
    for (let i = 0; i < opts.incrReps; i++) {
      log(`publish ${label}: incremental ${i + 1}/${opts.incrReps}`);
      const dir = join(base, `new-${i}`);
      mkdirSync(dir, { recursive: true });
      const files = [];
      for (let k = 0; k < 10; k++) files.push(writeDeb(dir, `new-r${i}-p${k}`));
      const r = await runChild('import-publish', { config, files, codename: CODENAME }, base);
      if (r.packages !== n + 10 * (i + 1)) throw new Error(`incremental publish listed ${r.packages} packages, expected ${n + 10 * (i + 1)}`);
      incr.push(r.totalMs);
      incrWall.push(r.wallMs);
      incrImport.push(r.importMs);
      memory.push(['import + publish (+10)', label, r]);
      const fd = toFile(idx);
      dbIncr.push(timeCommand('apt-ftparchive', ['--db', refDb, 'packages', 'pool'], { cwd: root, stdout: fd }).ms);
      closeSync(fd);
    }

    const plainRef = { label: 'apt-ftparchive alone', median: median(plain) };
    const dbRef = { label: 'apt-ftparchive --db', median: median(dbIncr) };
    const at2000 = n === 2000;
    rows.push(
      row(group, `nspawn-kit incremental publish, +10 .debs into ${label}`, incr, {
        reference: dbRef,
        target: at2000 ? { text: '≤ 1.5 s', ok: (m) => m <= 1500 } : undefined,
        note: `import ${(median(incrImport) / 1000).toFixed(2)} s of it; whole process incl. node start ${(median(incrWall) / 1000).toFixed(2)} s`,
      }),
      row(group, `nspawn-kit full publish of ${label} (cold index cache, signed)`, full, {
        reference: plainRef,
        target: at2000 ? { text: '≤ 2x apt-ftparchive alone', ok: (m, ref) => m <= 2 * ref } : undefined,
      }),
      {
        ...row(group, `nspawn-kit full publish of ${label} (vs apt-ftparchive with the same checksums)`, full, {
          reference: { label: 'apt-ftparchive, MD5sum+SHA256', median: median(sameSums) },
          note: 'same samples as the row above; the reference skips SHA1 and SHA512 per package, as nspawn-kit does',
        }),
        noChart: true,
      },
      row(group, `apt-ftparchive packages, ${label}, no db`, plain, { reference: plainRef, note: 'reference: Packages only, unsigned' }),
      row(group, `apt-ftparchive packages, ${label}, no db, MD5sum+SHA256 only`, sameSums, { reference: plainRef, note: 'reference: the checksum set of nspawn-kit\'s Packages' }),
      row(group, `apt-ftparchive --db packages, ${label} +10`, dbIncr, { reference: plainRef, note: 'reference: warm cache db, Packages only, unsigned' }),
    );

    if (n <= opts.scanMax) {
      log(`publish ${label}: dpkg-scanpackages (once)`);
      const fd = toFile(idx);
      const t = timeCommand('dpkg-scanpackages', ['pool', '/dev/null'], { cwd: root, stdout: fd });
      closeSync(fd);
      rows.push(row(group, `dpkg-scanpackages, ${label}`, [t.ms], { reference: plainRef, note: 'reference, run once (slow)' }));
    } else {
      rows.push(skipRow(group, `dpkg-scanpackages, ${label}`, `too slow for ${label} (one dpkg-deb per file: about 35 ms each); measured on the smaller pools`));
    }

    try {
      rows.push(...(await aptMoveRows({ n, label, archive, base, reps: opts.aptMoveReps, plainRef, group })));
    } catch (err) {
      rows.push(errorRow(group, `apt-move packages, ${label}`, err));
    }
  } catch (err) {
    rows.push(errorRow(group, `publish ${label}`, err));
  } finally {
    cleanup(base);
  }
  // One chart section per pool size; the one-off first import is not a publish figure.
  for (const r of rows) {
    r.chart = `publish, ${label} .debs`;
    if (r.case.startsWith('first import')) r.noChart = true;
  }
  return { rows, memory };
}
