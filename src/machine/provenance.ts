/**
 * Records inside a machine's root that the host reads back: the provenance
 * of the build and the first-boot result marker. Reads resolve symlinks
 * inside the root, so a hostile root cannot make us read a host file.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Shell } from '../shell.js';
import { OperationError } from '../errors.js';
import { BASE_NAME } from '../rootfs/overlay.js';
import { readInRoot, writeInRoot } from './inject.js';
import { FIRSTBOOT, PROVENANCE, type FirstBootResult, type Provenance } from './paths.js';

/** sha256 (hex) of a file, streamed. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export async function writeProvenance(sh: Shell, root: string, provenance: Provenance): Promise<string> {
  return writeInRoot(sh, root, PROVENANCE, `${JSON.stringify(provenance, null, 2)}\n`, 0o644);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new OperationError(`${what} is not valid JSON`, 'The machine was changed by hand or its build was interrupted; recreate it.');
  }
}

export function parseProvenance(value: unknown, what = PROVENANCE): Provenance {
  const ok =
    isRecord(value) &&
    ['machine', 'recipe', 'recipeHash', 'codename', 'inReleaseSha256', 'builtAt'].every((k) => typeof value[k] === 'string') &&
    (value.backend === 'debootstrap' || value.backend === 'mmdebstrap') &&
    typeof value.fromBaseCache === 'boolean' &&
    (value.indexDigest === undefined || typeof value.indexDigest === 'string') &&
    (value.storage === undefined || value.storage === 'copy' || value.storage === 'overlay') &&
    (value.base === undefined || (typeof value.base === 'string' && BASE_NAME.test(value.base))) &&
    (value.storage !== 'overlay' || typeof value.base === 'string');
  if (!ok) throw new OperationError(`${what} does not hold a provenance record`, 'Recreate the machine with `nspawn-kit create`.');
  return value as unknown as Provenance;
}

/** The machine's provenance, or undefined if the root has none (built by something else). */
export async function readProvenance(root: string): Promise<Provenance | undefined> {
  const data = await readInRoot(root, PROVENANCE);
  if (data === undefined) return undefined;
  return parseProvenance(parseJson(data.toString('utf8'), `${root}${PROVENANCE}`), `${root}${PROVENANCE}`);
}

export function parseFirstBootResult(value: unknown, what: string = FIRSTBOOT.marker): FirstBootResult {
  const ok =
    isRecord(value) &&
    (value.status === 'success' || value.status === 'failure') &&
    typeof value.exitCode === 'number' &&
    Number.isInteger(value.exitCode) &&
    typeof value.time === 'string';
  if (!ok) throw new OperationError(`${what} is not a first-boot result marker`, 'Recreate the machine and provision it again.');
  return { status: value.status as FirstBootResult['status'], exitCode: value.exitCode as number, time: value.time as string };
}

/**
 * The first-boot result, or undefined while the first boot has not finished
 * (no marker yet). Used by `provision` (poll until defined) and `list`.
 */
export async function readFirstBootResult(root: string): Promise<FirstBootResult | undefined> {
  const data = await readInRoot(root, FIRSTBOOT.marker);
  if (data === undefined) return undefined;
  return parseFirstBootResult(parseJson(data.toString('utf8'), `${root}${FIRSTBOOT.marker}`), `${root}${FIRSTBOOT.marker}`);
}
