/**
 * Which machines' archive directories are watched, rescan after rescan
 * (src/triggers/machine-discovery.ts), with the listing and the inodes
 * given as data. The real listing (provenance, hostile roots) is tested in
 * test/integration/triggers-watch.test.ts and machine-root-hostile.test.ts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MachineDiscovery } from '../../src/triggers/machine-discovery.js';
import type { MachineArchive } from '../../src/triggers/machine-archives.js';
import { WatchedDirs } from '../../src/triggers/watched-dirs.js';

type Listing = { found: MachineArchive[]; refused: Array<[string, string]> };

function make() {
  const state: { listing: Listing; inodes: Record<string, number> } = { listing: { found: [], refused: [] }, inodes: {} };
  const refusals: Array<[string, string]> = [];
  const d = new MachineDiscovery({
    machinesDir: '/machines',
    onRefused: (m, r) => refusals.push([m, r]),
    discover: async (dir, refuse) => {
      assert.is(dir, '/machines');
      for (const [m, r] of state.listing.refused) refuse(m, r);
      return new Map(state.listing.found.map((m) => [m.machine, m]));
    },
    inode: async (path) => state.inodes[path],
  });
  return { d, state, refusals };
}

const web = { machine: 'web', codename: 'bookworm', path: '/machines/web/var/cache/apt/archives' };
const db = { machine: 'db', codename: 'trixie', path: '/machines/db/var/cache/apt/archives' };

test('machines found are added once; a machine gone is removed', async () => {
  const { d, state } = make();
  state.listing.found = [web, db];
  state.inodes = { [web.path]: 11, [db.path]: 12 };
  assert.equal(await d.rescan(), { removed: [], added: [{ ...web, ino: 11 }, { ...db, ino: 12 }] });
  assert.equal(await d.rescan(), { removed: [], added: [] });
  state.listing.found = [db];
  assert.equal(await d.rescan(), { removed: [{ ...web, ino: 11 }], added: [] });
});

test('a rebuilt machine (new directory inode) or a new codename is removed and added again', async () => {
  const { d, state } = make();
  state.listing.found = [web];
  state.inodes = { [web.path]: 11 };
  await d.rescan();
  state.inodes = { [web.path]: 99 };
  assert.equal(await d.rescan(), { removed: [{ ...web, ino: 11 }], added: [{ ...web, ino: 99 }] });
  state.listing.found = [{ ...web, codename: 'trixie' }];
  assert.equal(await d.rescan(), { removed: [{ ...web, ino: 99 }], added: [{ ...web, codename: 'trixie', ino: 99 }] });
});

test('a refusal is reported once per reason, and again after the machine was found good', async () => {
  const { d, state, refusals } = make();
  state.listing.refused = [['web', 'bad codename']];
  await d.rescan();
  await d.rescan();
  assert.equal(refusals, [['web', 'bad codename']]);
  state.listing.refused = [['web', 'link out of the root']];
  await d.rescan();
  state.listing = { found: [web], refused: [] };
  await d.rescan();
  state.listing = { found: [], refused: [['web', 'link out of the root']] };
  await d.rescan();
  assert.equal(refusals, [
    ['web', 'bad codename'],
    ['web', 'link out of the root'],
    ['web', 'link out of the root'],
  ]);
});

test('watched directories: codenames per directory, a machine claims only what the admin did not configure', () => {
  const dirs = new WatchedDirs([{ path: '/srv/debs/', codename: 'bookworm' }]);
  assert.is(dirs.add('/srv/debs', 'bookworm'), true, 'new directory: arm it');
  assert.is(dirs.add('/srv/debs', 'trixie'), false, 'known: only a codename more');
  assert.is(dirs.add(web.path, 'bookworm'), true);
  dirs.claimForMachine(web.path, 'web');
  dirs.claimForMachine('/srv/debs', 'web');
  assert.is(dirs.machineOfFile(`${web.path}/a_1_all.deb`), 'web');
  assert.is(dirs.machineOfFile('/srv/debs/a_1_all.deb'), undefined, 'the admin configured it: trusted');
  assert.equal([...dirs.codenamesOfFile('/srv/debs/a_1_all.deb')], ['bookworm', 'trixie']);
  assert.equal(
    ['/srv/debs/a_1_all.deb', '/srv/debs/.a_1_all.deb', '/srv/debs/partial/a_1_all.deb', '/srv/debs/lock', '/elsewhere/a_1_all.deb'].map((p) => dirs.isTopLevelDeb(p)),
    [true, false, false, false, false],
  );
  assert.equal(dirs.archives(), [
    { path: '/srv/debs', codename: 'bookworm' },
    { path: '/srv/debs', codename: 'trixie' },
    { path: web.path, codename: 'bookworm' },
  ]);
  assert.is(dirs.isConfigured('/srv/debs/'), true);
  assert.is(dirs.isConfigured(web.path), false);
  assert.is(dirs.remove(web.path), web.path);
  assert.is(dirs.machineOfFile(`${web.path}/a_1_all.deb`), undefined);
  assert.equal(dirs.paths(), ['/srv/debs']);
});

test.run();
