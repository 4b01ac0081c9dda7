/** Bind sources on a real proc or sysfs mount, or a real device node, outside /proc, /sys and /dev (the path rules: test/unit/config-bind-policy.test.ts). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bindProblem } from '../../src/config/path-policy.js';
import { makeConfig } from '../helpers/config.js';

test('procfs or sysfs mounted elsewhere, and a device node outside /dev, are refused too (root only: mount, mknod)', () => {
  if (process.getuid?.() !== 0) {
    console.log('  (skipped: needs root to mount and mknod)');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'nk-bindpol-mnt-'));
  try {
    const config = makeConfig(dir);
    const tail = "kernel file systems (like /proc and /sys) and device nodes (like /dev's) expose the host's processes, settings and devices and must not be bound into a container";
    mkdirSync(join(dir, 'p'));
    mkdirSync(join(dir, 's'));
    spawnSync('mknod', ['--', join(dir, 'sda'), 'b', '8', '0']);
    assert.is(spawnSync('mount', ['--bind', '--', '/proc', join(dir, 'p')]).status, 0);
    try {
      assert.is(spawnSync('mount', ['-t', 'sysfs', '--', 'sysfs', join(dir, 's')]).status, 0);
      try {
        assert.is(bindProblem(`${dir}/p`, config, true), `host path ${dir}/p is on a proc file system: ${tail}`);
        assert.is(bindProblem(`${dir}/p/sys/kernel`, config, false), `host path ${dir}/p/sys/kernel is on a proc file system (at ${dir}/p): ${tail}`);
        assert.is(bindProblem(`${dir}/s/kernel:/k`, config, true), `host path ${dir}/s/kernel is on a sysfs file system (at ${dir}/s): ${tail}`);
        assert.is(bindProblem(`${dir}/sda:/dev/sda`, config, false), `host path ${dir}/sda is a device node: ${tail}`);
      } finally {
        spawnSync('umount', ['--', join(dir, 's')]);
      }
    } finally {
      spawnSync('umount', ['--', join(dir, 'p')]);
    }
    // Unmounted, the same directories are ordinary.
    assert.is(bindProblem(`${dir}/p`, config, true), undefined);
  } finally {
    // Never remove recursively through a mount that is still there.
    if (!readFileSync('/proc/mounts', 'utf8').includes(dir)) rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
