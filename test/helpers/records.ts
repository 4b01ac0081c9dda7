/**
 * Data builders for the records a machine root holds (provenance, first-boot
 * marker), built through the same zod schemas the host parses them with
 * (src/machine/provenance-schema.ts): a fixture that the schema would refuse
 * fails here, at its construction. Hostile records are written as raw JSON by
 * the tests themselves (spread a fixture, then override with a bad value).
 */
import {
  FirstBootResultSchema,
  ProvenanceSchema,
  type FirstBootResult,
  type Provenance,
} from '../../src/machine/provenance-schema.js';

/** A valid provenance record of a bookworm-minimal machine "x" (override any field). */
export function provenanceRecord(overrides: Partial<Provenance> = {}): Provenance {
  return ProvenanceSchema.parse({
    machine: 'x',
    recipe: 'bookworm-minimal',
    recipeHash: 'a'.repeat(64),
    codename: 'bookworm',
    inReleaseSha256: 'b'.repeat(64),
    builtAt: '2026-11-29T00:00:00.000Z',
    backend: 'debootstrap',
    fromBaseCache: true,
    ...overrides,
  });
}

/** A valid first-boot result (default: success, exit 0). */
export function firstBootResult(overrides: Partial<FirstBootResult> = {}): FirstBootResult {
  return FirstBootResultSchema.parse({ status: 'success', exitCode: 0, time: '2026-11-29T01:02:03Z', ...overrides });
}

/** The marker file's text, as the first-boot script writes it (one JSON line). */
export function firstBootMarker(overrides: Partial<FirstBootResult> = {}): string {
  return `${JSON.stringify(firstBootResult(overrides))}\n`;
}
