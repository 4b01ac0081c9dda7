import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Shell, exists } from '../../src/shell.js';
import { listMachines, removeMachine, formatMachineTable } from '../../src/machine/list.js';
import { nspawnPids } from '../../src/machine/boot.js';
import { writeProvenance } from '../../src/machine/provenance.js';
import { FIRSTBOOT } from '../../src/machine/paths.js';
import { mountsUnder } from '../../src/rootfs/builddir.js';
import { makeConfig } from '../helpers/config.js';
import { firstBootMarker, provenanceRecord } from '../helpers/records.js';

const isRoot = process.getuid?.() === 0;
const sh = new Shell({ log: () => {} });

async function fakeMachine(config: ReturnType<typeof makeConfig>, name: string, marker?: string): Promise<string> {
  const root = join(config.machines.dir, name);
  await mkdir(join(root, 'etc'), { recursive: true });
  await writeFile(join(root, 'etc', 'os-release'), 'ID=debian\n');
  await writeFile(join(root, 'payload'), Buffer.alloc(200_000));
  await writeProvenance(sh, root, provenanceRecord({ machine: name }));
  if (marker) {
    await mkdir(join(root, 'var/lib/nspawn-kit'), { recursive: true });
    await writeFile(join(root, FIRSTBOOT.marker), marker);
  } else {
    await mkdir(join(root, 'usr/local/lib/nspawn-kit'), { recursive: true });
    await writeFile(join(root, FIRSTBOOT.script), '#!/bin/sh\n');
  }
  await writeFile(join(config.machines.dir, `${name}.nspawn`), '[Exec]\nBoot=yes\n');
  return root;
}

test('list: only machines with provenance, with first-boot state and size; dot dirs and files ignored', async () => {
  const base = await mkdtemp(join(tmpdir(), 'nk-list-'));
  try {
    const config = makeConfig(base);
    await fakeMachine(config, 'a-ok', firstBootMarker({ status: 'success', exitCode: 0 }));
    await fakeMachine(config, 'b-failed', firstBootMarker({ status: 'failure', exitCode: 3 }));
    await fakeMachine(config, 'c-new');
    await mkdir(join(config.machines.dir, 'not-a-machine', 'etc'), { recursive: true });
    await mkdir(join(config.machines.dir, '.nspawn-kit-build-x-123'), { recursive: true });
    const list = await listMachines({ sh, config });
    assert.equal(list.map((m) => [m.name, m.firstBoot, m.firstBootExitCode]), [
      ['a-ok', 'success', 0],
      ['b-failed', 'failure', 3],
      ['c-new', 'pending', undefined],
    ]);
    assert.ok(list.every((m) => m.sizeBytes >= 200_000 && !m.running && m.recipe === 'bookworm-minimal'));
    const table = formatMachineTable(list);
    assert.match(table, /b-failed\s+bookworm-minimal\s+bookworm\s+bbbbbbbbbbbb\s+\?\s+\d+ MiB\s+-\s+copy\s+failure \(3\)\s+stopped/);
    // These fake roots have no dpkg status: the updates are unknown, and the table says why.
    assert.ok(table.split('\n').includes(`b-failed: updates unknown: ${join(config.machines.dir, 'b-failed')}/var/lib/dpkg/status does not exist`), table);
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});

test('rm refuses a running machine (a systemd-nspawn with its --directory), then removes it and its .nspawn file', async () => {
  const base = await mkdtemp(join(tmpdir(), 'nk-rm-'));
  const outside = join(base, 'outside');
  try {
    const config = makeConfig(base);
    const root = await fakeMachine(config, 'web');
    // Something that looks like systemd-nspawn on this root to /proc.
    // (sh -c: "--directory=..." becomes $0; the loop keeps sh itself running.)
    const fake = spawn('sh', ['-c', 'while :; do sleep 1; done', `--directory=${root}`], { argv0: 'systemd-nspawn', stdio: 'ignore' });
    const fakeExit = new Promise((r) => fake.on('exit', r));
    try {
      for (let i = 0; i < 50 && (await nspawnPids(root)).length === 0; i++) await new Promise((r) => setTimeout(r, 100));
      assert.equal(await nspawnPids(root), [fake.pid]);
      assert.ok((await listMachines({ sh, config }, { sizes: false }))[0]?.running);
      try {
        await removeMachine({ sh, config }, 'web');
        assert.unreachable('removed a running machine');
      } catch (err) {
        assert.match((err as Error).message, /is running \(systemd-nspawn pid \d+\)/);
      }
      assert.ok(await exists(join(root, 'etc')));
    } finally {
      fake.kill('SIGKILL');
      await fakeExit;
    }
    if (isRoot) {
      await mkdir(outside);
      await writeFile(join(outside, 'precious'), 'keep');
      await mkdir(join(root, 'mnt'));
      await sh.write(['mount', ['--bind', '--', outside, join(root, 'mnt')]]);
    }
    const report = await removeMachine({ sh, config }, 'web');
    assert.ok(report.removed.includes(root));
    assert.ok(report.removed.includes(join(config.machines.dir, 'web.nspawn')));
    assert.not.ok(await exists(root));
    assert.equal(await mountsUnder(base), []);
    if (isRoot) assert.is(await readFile(join(outside, 'precious'), 'utf8'), 'keep');
    try {
      await removeMachine({ sh, config }, 'web');
      assert.unreachable();
    } catch (err) {
      assert.match((err as Error).message, /no machine web/);
    }
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});

test('rm and list refuse unsafe names before touching anything', async () => {
  const base = await mkdtemp(join(tmpdir(), 'nk-rm-'));
  try {
    const config = makeConfig(base);
    for (const bad of ['..', '../x', '-rf', 'a/b', '']) {
      try {
        await removeMachine({ sh, config }, bad);
        assert.unreachable(bad);
      } catch (err) {
        assert.match((err as Error).message, /invalid machine name/);
      }
    }
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});

test.run();
