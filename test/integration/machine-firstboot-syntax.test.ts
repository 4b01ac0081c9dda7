/** bash and sh accept what the first-boot renderers write (their text: test/unit/machine-firstboot.test.ts). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { makeRecipe } from '../helpers/config.js';
import { renderFirstBootScript, renderRcLocal } from '../../src/machine/firstboot.js';

test('script: valid bash syntax, with and without steps, both network modes', () => {
  for (const opts of [
    { machine: 'box', recipe: makeRecipe({ steps: ['echo one', "echo 'two' && touch /x"] }), linkResolvConf: true },
    { machine: 'box', recipe: makeRecipe() },
  ]) {
    const res = spawnSync('bash', ['-n'], { input: renderFirstBootScript(opts), encoding: 'utf8' });
    assert.is(res.status, 0, res.stderr);
  }
});

test('rc.local: valid sh, new and merged into an existing one', () => {
  for (const rc of [renderRcLocal(), renderRcLocal('#!/bin/sh -e\necho hello\nexit 0\n')]) {
    const res = spawnSync('sh', ['-n'], { input: rc, encoding: 'utf8' });
    assert.is(res.status, 0, res.stderr);
  }
});

test.run();
