/**
 * Machine names follow systemd's machine_name_is_valid() (hostname_is_valid
 * without ".host" or a trailing dot): the cases below are the ones its rules
 * decide, including a 64-character single label (systemd limits the whole
 * name to HOST_NAME_MAX, not a label to 63).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { assertMachineName, isMachineName, machineNameFor } from '../../src/machine/name.js';
import { UsageError } from '../../src/errors.js';

test('valid: labels of letters, digits and "-" separated by single dots, up to 64 characters', () => {
  for (const n of ['a', 'A1', 'web-1', 'a--b', 'box.1', 'x.y.z', '0abc', 'x'.repeat(64), `${'a'.repeat(31)}.${'b'.repeat(32)}`]) assert.ok(isMachineName(n), n);
});

test('invalid: "_", empty, leading/trailing "-" in a label, empty labels, leading/trailing dots, .host, over 64, non-ASCII', () => {
  for (const n of ['', 'a_b', '-a', 'a-', 'a.-b', 'a-.b', 'a..b', '.a', 'a.', '.host', '.', 'x'.repeat(65), 'caf\u00e9', 'a b', 'a/b', 'a\nb']) assert.not.ok(isMachineName(n), JSON.stringify(n));
});

test('assertMachineName: a UsageError (exit 2) quoting the name and the rule, with a valid suggestion', () => {
  try {
    assertMachineName('my_box-');
    assert.unreachable();
  } catch (err) {
    assert.instance(err, UsageError);
    assert.is((err as UsageError).exitCode, 2);
    assert.match((err as UsageError).message, /^invalid machine name "my_box-": a machine name must be a valid host name/);
    assert.is((err as UsageError).hint, 'Pick a valid name, e.g. my-box.');
  }
});

test('machineNameFor: --name wins; a recipe name that is no machine name asks for --name', () => {
  assert.is(machineNameFor(undefined, 'bookworm-minimal'), 'bookworm-minimal');
  assert.is(machineNameFor('box', 'my_recipe'), 'box');
  assert.throws(() => machineNameFor('a_b', 'bookworm-minimal'), (e: Error) => e instanceof UsageError && e.message.startsWith('invalid machine name "a_b"'));
  try {
    machineNameFor(undefined, 'qgis_dev');
    assert.unreachable();
  } catch (err) {
    assert.instance(err, UsageError);
    assert.match((err as UsageError).message, /^recipe "qgis_dev" is no valid machine name/);
    assert.is((err as UsageError).hint, 'Pass a machine name with --name, e.g. --name qgis-dev.');
  }
});

test.run();
