/**
 * Records inside a machine's root that the host reads back: the provenance
 * of the build and the first-boot result marker. Root in the container
 * controls them: they are read by record.ts (no link followed, no FIFO
 * waited on, 64 KiB at most) and every value is validated like configuration.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { SAFE_NAME } from '../config/schema.js';
import type { Shell } from '../shell.js';
import { OperationError } from '../errors.js';
import { CODENAME } from '../mirror/suites.js';
import { BASE_NAME } from '../rootfs/overlay.js';
import { writeInRoot } from './inject.js';
import { RECORD_MAX_BYTES, readRecordInRoot } from './record.js';
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

const HEX64 = /^[0-9a-f]{64}$/;
/** What toISOString() and `date -u +%Y-%m-%dT%H:%M:%SZ` write. */
const ISO_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

const isSafeName = (v: unknown): boolean => typeof v === 'string' && SAFE_NAME.test(v) && !v.includes('..');
const isHex64 = (v: unknown): boolean => typeof v === 'string' && HEX64.test(v);
const isIsoDate = (v: unknown): boolean => typeof v === 'string' && ISO_DATE.test(v) && !Number.isNaN(Date.parse(v));
const optional = (check: (v: unknown) => boolean) => (v: unknown) => v === undefined || check(v);

/** A value from a machine, quoted for a message (short; formatError escapes it). */
function shown(value: unknown): string {
  const text = JSON.stringify(value) ?? 'nothing';
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

type Rules = Record<string, [check: (v: unknown) => boolean, expected: string]>;

/** Every field against its rule, like configuration: "field: expected ..., got ..." for each one wrong. */
function fieldProblems(value: Record<string, unknown>, rules: Rules): string[] {
  return Object.entries(rules)
    .filter(([key, [check]]) => !check(value[key]))
    .map(([key, [, expected]]) => `${key}: expected ${expected}, got ${shown(value[key])}`);
}

const PROVENANCE_RULES: Rules = {
  machine: [isSafeName, 'a machine name (letters, digits, ".", "_", "-")'],
  recipe: [isSafeName, 'a recipe name (letters, digits, ".", "_", "-")'],
  recipeHash: [isHex64, 'a sha256 (64 lowercase hex digits)'],
  codename: [(v) => typeof v === 'string' && CODENAME.test(v), 'a codename like "bookworm"'],
  inReleaseSha256: [isHex64, 'a sha256 (64 lowercase hex digits)'],
  indexDigest: [optional(isHex64), 'a sha256 (64 lowercase hex digits)'],
  builtAt: [isIsoDate, 'an ISO 8601 UTC time'],
  backend: [(v) => v === 'debootstrap' || v === 'mmdebstrap', '"debootstrap" or "mmdebstrap"'],
  fromBaseCache: [(v) => typeof v === 'boolean', 'true or false'],
  storage: [optional((v) => v === 'copy' || v === 'overlay'), '"copy" or "overlay"'],
  base: [optional((v) => typeof v === 'string' && BASE_NAME.test(v)), 'a base directory name ("<recipe>-<16 hex digits>")'],
};

function invalid(what: string, problems: string[], hint: string): OperationError {
  // One line: `list` shows the first line of a machine's problem.
  return new OperationError(`${what} is not a valid record: ${problems.join('; ')}`, hint);
}

/** A provenance record, every value validated; only the known fields are kept. */
export function parseProvenance(value: unknown, what = PROVENANCE): Provenance {
  const hint = 'Recreate the machine with `nspawn-kit create`.';
  if (!isRecord(value)) throw new OperationError(`${what} does not hold a provenance record`, hint);
  const problems = fieldProblems(value, PROVENANCE_RULES);
  if (value.storage === 'overlay' && value.base === undefined) problems.push('base: expected the base of an overlay machine, got nothing');
  if (problems.length) throw invalid(what, problems, hint);
  const v = value as unknown as Provenance;
  const out: Provenance = {
    machine: v.machine,
    recipe: v.recipe,
    recipeHash: v.recipeHash,
    codename: v.codename,
    inReleaseSha256: v.inReleaseSha256,
    builtAt: v.builtAt,
    backend: v.backend,
    fromBaseCache: v.fromBaseCache,
  };
  if (v.indexDigest !== undefined) out.indexDigest = v.indexDigest;
  if (v.storage !== undefined) out.storage = v.storage;
  if (v.base !== undefined) out.base = v.base;
  return out;
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

const FIRSTBOOT_RULES: Rules = {
  status: [(v) => v === 'success' || v === 'failure', '"success" or "failure"'],
  exitCode: [(v) => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 255, 'an exit code (an integer 0..255)'],
  time: [isIsoDate, 'an ISO 8601 UTC time'],
};

export function parseFirstBootResult(value: unknown, what: string = FIRSTBOOT.marker): FirstBootResult {
  const hint = 'Recreate the machine and provision it again.';
  if (!isRecord(value)) throw new OperationError(`${what} is not a first-boot result marker`, hint);
  const problems = fieldProblems(value, FIRSTBOOT_RULES);
  if (problems.length) throw invalid(what, problems, hint);
  return { status: value.status as FirstBootResult['status'], exitCode: value.exitCode as number, time: value.time as string };
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
