/**
 * apt-move's own `packages` on the synthetic pool. apt-move builds Packages
 * from the master lists of the sites in APTSITES (copied out of LISTSTATE by
 * `apt-move get`), not from the .debs: so a master list naming the synthetic
 * packages, as if a site "bench.invalid" served them, is made first with
 * apt-ftparchive. Then `get` + `move` (COPYONLY) fill its mirror once and
 * `packages` is timed. Unsigned (GPGKEY empty): no signing cost is included.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { row, sh, timeCommand } from './util.mjs';

export async function aptMoveRows({ n, label, archive, base, reps, plainRef, group }) {
  const dir = join(base, 'apt-move');
  const lists = join(dir, 'lists');
  const local = join(dir, 'mirror');
  mkdirSync(lists, { recursive: true });
  mkdirSync(local, { recursive: true });
  const packages = sh('apt-ftparchive', ['packages', '.'], { cwd: archive })
    // Upstream-style pool paths: pool/main/<first letter>/<package>/<file>.
    .replace(/^Filename: \.\/(([a-z])[^_]*)_(.*)$/gm, 'Filename: pool/main/$2/$1/$1_$3');
  writeFileSync(join(lists, 'bench.invalid_debian_dists_bookworm_main_binary-amd64_Packages'), packages);
  const conf = join(dir, 'apt-move.conf');
  writeFileSync(
    conf,
    [
      'APTSITES="bench.invalid"',
      `LOCALDIR=${local}`,
      'DIST=bookworm',
      'PKGTYPE=binary',
      `FILECACHE=${archive}`,
      `LISTSTATE=${lists}`,
      'DELETE=no',
      'MAXDELETE=20',
      'COPYONLY=yes',
      'PKGCOMP="none gzip"',
      'CONTENTS=no',
      'GPGKEY=',
      '',
    ].join('\n'),
  );
  const env = { TMPDIR: dir };
  const ingest = timeCommand('apt-move', ['-q', '-c', conf, 'get'], { cwd: dir, env }).ms + timeCommand('apt-move', ['-q', '-c', conf, 'move'], { cwd: dir, env }).ms;
  const samples = [];
  for (let i = 0; i < reps; i++) samples.push(timeCommand('apt-move', ['-q', '-c', conf, 'packages'], { cwd: dir, env }).ms);
  const out = sh('sh', ['-c', 'grep -c "^Package:" "$1"', 'sh', join(local, 'dists/bookworm/main/binary-amd64/Packages')], { nothrow: true }).trim();
  if (Number(out) !== n) throw new Error(`apt-move packages listed ${out || 0} packages, expected ${n}`);
  return [
    row(group, `apt-move packages, ${label}`, samples, {
      reference: plainRef,
      note: `reference: copies stanzas from its master lists (reads no .deb), unsigned; get+move of the pool took ${(ingest / 1000).toFixed(1)} s once`,
    }),
  ];
}
