/**
 * Records inside a machine's root that the host reads back: the provenance
 * of the build and the first-boot result marker. Root in the container
 * controls them: they are read by record.ts (no link followed, no FIFO
 * waited on, 64 KiB at most) and parsed with their zod schemas
 * (provenance-schema.ts): every value validated like configuration.
 */
import { join } from 'node:path';
import type { Shell } from '../shell.js';
import { OperationError } from '../errors.js';
import { writeInRoot } from './inject.js';
import { RECORD_MAX_BYTES, readRecordInRoot } from './record.js';
import { FIRSTBOOT, PROVENANCE } from './paths.js';
import { FirstBootResultSchema, ProvenanceSchema, parseRecord, type FirstBootResult, type Provenance } from './provenance-schema.js';

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

function invalid(what: string, problems: string[], hint: string): OperationError {
  // One line: `list` shows the first line of a machine's problem.
  return new OperationError(`${what} is not a valid record: ${problems.join('; ')}`, hint);
}

/** A provenance record, every value validated (provenance-schema.ts); only the known fields are kept. */
export function parseProvenance(value: unknown, what = PROVENANCE): Provenance {
  const hint = 'Recreate the machine with `nspawn-kit create`.';
  if (!isRecord(value)) throw new OperationError(`${what} does not hold a provenance record`, hint);
  const parsed = parseRecord(ProvenanceSchema, value);
  if (!parsed.ok) throw invalid(what, parsed.problems, hint);
  return parsed.record;
}

/**
 * A record of the root, read safely (record.ts): undefined when absent; a
 * FIFO, socket, device, symlink or oversized file is an OperationError naming it.
 */
async function readRecord(root: string, inner: string, hint: string): Promise<Buffer | undefined> {
  const read = await readRecordInRoot(root, inner, RECORD_MAX_BYTES, join(root, inner));
  if (read.ok) return read.value;
  if (read.absent) return undefined;
  throw new OperationError(read.reason, hint);
}

/** The machine's provenance, or undefined if the root has none (built by something else). */
export async function readProvenance(root: string): Promise<Provenance | undefined> {
  const what = join(root, PROVENANCE);
  const data = await readRecord(root, PROVENANCE, 'Recreate the machine with `nspawn-kit create`.');
  if (data === undefined) return undefined;
  return parseProvenance(parseJson(data.toString('utf8'), what), what);
}

export function parseFirstBootResult(value: unknown, what: string = FIRSTBOOT.marker): FirstBootResult {
  const hint = 'Recreate the machine and provision it again.';
  if (!isRecord(value)) throw new OperationError(`${what} is not a first-boot result marker`, hint);
  const parsed = parseRecord(FirstBootResultSchema, value);
  if (!parsed.ok) throw invalid(what, parsed.problems, hint);
  return parsed.record;
}

/**
 * The first-boot result, or undefined while the first boot has not finished
 * (no marker yet). Used by `provision` (poll until defined) and `list`.
 */
export async function readFirstBootResult(root: string): Promise<FirstBootResult | undefined> {
  const what = join(root, FIRSTBOOT.marker);
  const data = await readRecord(root, FIRSTBOOT.marker, 'Recreate the machine and provision it again.');
  if (data === undefined) return undefined;
  return parseFirstBootResult(parseJson(data.toString('utf8'), what), what);
}
