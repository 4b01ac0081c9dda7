/** The apt-ftparchive plan as data (ftparchive-conf.ts): exact configurations, file lists and outputs. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OperationError } from '../../src/errors.js';
import { planGenerate } from '../../src/mirror/ftparchive-conf.js';

const dirs = { root: '/srv/mirror', cache: '/var/lib/nk/mirror/cache' };
const members = ['pool/main/c/c/c_1_arm64.deb', 'pool/main/a/a/a_1_amd64.deb', 'pool/main/b/b/b_1_all.deb', 'pool/main/d/d/d_1_amd64.deb'];

test('one process: the index written in place, one BinDirectory per architecture, the members of each plus all', () => {
  const plan = planGenerate({ members, architectures: ['amd64', 'arm64'], outDir: '/srv/mirror/.staging/s', parts: 1 }, dirs);
  assert.equal(
    plan.arches.map((a) => ({ arch: a.index.arch, dir: a.index.dir, files: a.index.files, fileLists: a.fileLists, outputs: a.outputs })),
    [
      {
        arch: 'amd64',
        dir: '/srv/mirror/.staging/s/main/binary-amd64',
        files: ['pool/main/a/a/a_1_amd64.deb', 'pool/main/b/b/b_1_all.deb', 'pool/main/d/d/d_1_amd64.deb'],
        fileLists: [{ path: '/srv/mirror/.staging/s/filelist-amd64', text: 'pool/main/a/a/a_1_amd64.deb\npool/main/b/b/b_1_all.deb\npool/main/d/d/d_1_amd64.deb\n' }],
        outputs: ['/srv/mirror/.staging/s/main/binary-amd64/Packages'],
      },
      {
        arch: 'arm64',
        dir: '/srv/mirror/.staging/s/main/binary-arm64',
        files: ['pool/main/b/b/b_1_all.deb', 'pool/main/c/c/c_1_arm64.deb'],
        fileLists: [{ path: '/srv/mirror/.staging/s/filelist-arm64', text: 'pool/main/b/b/b_1_all.deb\npool/main/c/c/c_1_arm64.deb\n' }],
        outputs: ['/srv/mirror/.staging/s/main/binary-arm64/Packages'],
      },
    ],
  );
  assert.equal(plan.confs, [
    {
      path: '/srv/mirror/.staging/s/apt-ftparchive.conf',
      text: [
        'Dir { ArchiveDir "/srv/mirror"; CacheDir "/var/lib/nk/mirror/cache"; };',
        'Default { Packages::Compress "."; FileMode 0644; };',
        'BinDirectory "binary-amd64" {',
        '  Packages "/srv/mirror/.staging/s/main/binary-amd64/Packages";',
        '  FileList "/srv/mirror/.staging/s/filelist-amd64";',
        '  BinCacheDB "packages.db";',
        '};',
        'BinDirectory "binary-arm64" {',
        '  Packages "/srv/mirror/.staging/s/main/binary-arm64/Packages";',
        '  FileList "/srv/mirror/.staging/s/filelist-arm64";',
        '  BinCacheDB "packages.db";',
        '};',
        '',
      ].join('\n'),
    },
  ]);
});

test('two processes: contiguous runs, outputs beside the index to be concatenated, a cache database each', () => {
  const plan = planGenerate({ members, architectures: ['amd64'], outDir: '/o', parts: 2 }, dirs);
  const [amd64] = plan.arches;
  assert.equal(amd64?.fileLists, [
    { path: '/o/filelist-amd64-0', text: 'pool/main/a/a/a_1_amd64.deb\n' },
    { path: '/o/filelist-amd64-1', text: 'pool/main/b/b/b_1_all.deb\npool/main/d/d/d_1_amd64.deb\n' },
  ]);
  assert.equal(amd64?.outputs, ['/o/Packages-amd64-0', '/o/Packages-amd64-1']);
  assert.equal(
    plan.confs.map((c) => c.path),
    ['/o/apt-ftparchive-0.conf', '/o/apt-ftparchive-1.conf'],
  );
  assert.match(plan.confs[0]!.text, '  Packages "/o/Packages-amd64-0";\n  FileList "/o/filelist-amd64-0";\n  BinCacheDB "packages.db";\n');
  assert.match(plan.confs[1]!.text, '  Packages "/o/Packages-amd64-1";\n  FileList "/o/filelist-amd64-1";\n  BinCacheDB "packages-1.db";\n');
});

test('an architecture without members gets an empty file list (an empty index, not a missing one)', () => {
  const plan = planGenerate({ members, architectures: ['riscv64'], outDir: '/o', parts: 1 }, dirs);
  assert.equal(plan.arches[0]?.index.files, ['pool/main/b/b/b_1_all.deb']);
  const none = planGenerate({ members: ['pool/main/a/a/a_1_amd64.deb'], architectures: ['arm64'], outDir: '/o', parts: 1 }, dirs);
  assert.equal(none.arches[0]?.fileLists, [{ path: '/o/filelist-arm64', text: '' }]);
});

test('a path apt.conf cannot quote is refused, not mangled', () => {
  for (const root of ['/srv/a"b', '/srv/a\nb']) {
    assert.throws(
      () => planGenerate({ members, architectures: ['amd64'], outDir: '/o', parts: 1 }, { ...dirs, root }),
      (e: unknown) => e instanceof OperationError && e.message === `path not usable in an apt-ftparchive configuration: ${JSON.stringify(root)}`,
    );
  }
});

test.run();
