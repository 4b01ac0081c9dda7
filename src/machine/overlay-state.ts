/**
 * The host's own record of overlay machines. An overlay machine is
 *   <stateDir>/overlay/<name>/upper    its changes (overlayfs upperdir)
 *   <stateDir>/overlay/<name>/work     overlayfs workdir (same file system)
 *   <stateDir>/overlay/<name>/machine.json   {"version":1,"machine","recipe","base"}
 * over the read-only base <stateDir>/base/<base>, mounted on the host at
 * <machines.dir>/<name>. Which machines are overlays, and on which base,
 * is read only from machine.json: root in the container cannot write there
 * (the provenance record inside the root keeps storage/base for display).
 *
 * A directory with machine.json is a committed machine; create builds one in
 * `<stateDir>/overlay/.nspawn-kit-build-<name>-<random>/` and renames it into
 * place with the record already in it, so a killed create leaves only a
 * build dir, swept like the others (rootfs/builddir.ts) by the next command.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/types.js';
import { SAFE_NAME } from '../config/schema.js';
import { OperationError } from '../errors.js';
import { BASE_NAME } from '../rootfs/overlay.js';
import { baseCacheDir } from '../rootfs/base-cache.js';
import { openResolvedFile } from './record.js';

export const OVERLAY_RECORD = 'machine.json';

export interface OverlayRecord {
  version: 1;
  machine: string;
  recipe: string;
  /** Base directory name under <stateDir>/base: "<recipe>-<16 hex>". */
  base: string;
}

export interface OverlayPaths {
  /** <stateDir>/overlay/<name> */
  state: string;
  upper: string;
  work: string;
  record: string;
}

export function overlayStateParent(config: Pick<Config, 'stateDir'>): string {
  return join(config.stateDir, 'overlay');
}

export function overlayPaths(config: Pick<Config, 'stateDir'>, name: string): OverlayPaths {
  const state = join(overlayStateParent(config), name);
  return { state, upper: join(state, 'upper'), work: join(state, 'work'), record: join(state, OVERLAY_RECORD) };
}

/** The base directory a record names (always under <stateDir>/base). */
export function recordLower(config: Pick<Config, 'stateDir'>, record: Pick<OverlayRecord, 'base'>): string {
  return join(baseCacheDir(config), record.base);
}

const isName = (v: unknown): v is string => typeof v === 'string' && SAFE_NAME.test(v) && !v.includes('..');

/** A record, every field checked (the file is the host's, but a hand edit must not point elsewhere). */
export function parseOverlayRecord(value: unknown, what: string): OverlayRecord {
  const v = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  const problems: string[] = [];
  if (v.version !== 1) problems.push('version: expected 1');
  if (!isName(v.machine)) problems.push('machine: expected a machine name');
  if (!isName(v.recipe)) problems.push('recipe: expected a recipe name');
  if (typeof v.base !== 'string' || !BASE_NAME.test(v.base)) problems.push('base: expected "<recipe>-<16 hex digits>"');
  if (problems.length) {
    throw new OperationError(`${what} is not a valid overlay record: ${problems.join('; ')}`, 'Restore it, or remove the machine with `nspawn-kit rm NAME`.');
  }
  return { version: 1, machine: v.machine as string, recipe: v.recipe as string, base: v.base as string };
}

export function renderOverlayRecord(record: OverlayRecord): string {
  return `${JSON.stringify(record, null, 2)}\n`;
}

/** The machine's overlay record, or undefined when it has none (a copy, or an old-layout overlay). */
export async function readOverlayRecord(config: Pick<Config, 'stateDir'>, name: string): Promise<OverlayRecord | undefined> {
  const { record } = overlayPaths(config, name);
  const read = await openResolvedFile(record, { maxBytes: 4096 });
  if (!read.ok) {
    if (read.absent) return undefined;
    throw new OperationError(read.reason, `Remove the machine with \`nspawn-kit rm ${name}\`.`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(read.value.toString('utf8'));
  } catch {
    throw new OperationError(`${record} is not valid JSON`, `Restore it, or remove the machine with \`nspawn-kit rm ${name}\`.`);
  }
  const rec = parseOverlayRecord(parsed, record);
  if (rec.machine !== name) throw new OperationError(`${record} names machine ${rec.machine}, not ${name}`, `Restore it, or remove the machine with \`nspawn-kit rm ${name}\`.`);
  return rec;
}

/** Every committed overlay record (a broken one is skipped: it names no base for sure). */
export async function listOverlayRecords(config: Pick<Config, 'stateDir'>): Promise<OverlayRecord[]> {
  const entries = await fsp.readdir(overlayStateParent(config)).catch(() => [] as string[]);
  const records: OverlayRecord[] = [];
  for (const entry of entries.sort()) {
    if (entry.startsWith('.') || !isName(entry)) continue;
    const rec = await readOverlayRecord(config, entry).catch(() => undefined);
    if (rec) records.push(rec);
  }
  return records;
}
