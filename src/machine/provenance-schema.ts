/**
 * The records a machine's root holds for the host, as zod schemas: the
 * provenance of its build and the first-boot result marker. Their types are
 * derived from the schemas, and the host parses what it reads back with them
 * (provenance.ts): root in the container controls these files, so every value
 * is validated as strictly as configuration, unknown fields are dropped, and
 * each problem reads "field: expected <description>, got <value>".
 */
import { z } from 'zod';
import { SAFE_NAME } from '../config/schema.js';
import { CODENAME } from '../mirror/suites.js';
import { BASE_NAME } from '../rootfs/overlay.js';

/** What toISOString() and `date -u +%Y-%m-%dT%H:%M:%SZ` write. */
const ISO_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

const safeName = (what: string) =>
  z
    .string()
    .regex(SAFE_NAME)
    .refine((v) => !v.includes('..'))
    .describe(`a ${what} name (letters, digits, ".", "_", "-")`);
const sha256 = () => z.string().regex(/^[0-9a-f]{64}$/).describe('a sha256 (64 lowercase hex digits)');
const isoTime = () =>
  z
    .string()
    .regex(ISO_DATE)
    .refine((v) => !Number.isNaN(Date.parse(v)))
    .describe('an ISO 8601 UTC time');

export const ProvenanceSchema = z
  .object({
    machine: safeName('machine'),
    recipe: safeName('recipe'),
    recipeHash: sha256(),
    codename: z.string().regex(CODENAME).describe('a codename like "bookworm"'),
    /** sha256 of dists/<codename>/InRelease the machine was built from. */
    inReleaseSha256: sha256(),
    /**
     * Digest of the package set that publication signed (base-cache indexDigest):
     * unchanged by a date-only republish. Absent in records written before it existed.
     */
    indexDigest: sha256().optional().describe('a sha256 (64 lowercase hex digits)'),
    /**
     * sha256 of dists/<suite>/InRelease for each suite the machine uses (release,
     * -updates, -security), at its build or its last `upgrade`. Absent in records
     * written before update suites existed.
     */
    suites: z
      .record(z.string().regex(CODENAME), sha256())
      .optional()
      .describe('suite -> sha256 of its InRelease ({"bookworm-security": "<64 hex digits>", ...})'),
    builtAt: isoTime(),
    /** When `nspawn-kit upgrade` last upgraded the machine from the mirror (its `suites` then name that publication). */
    upgradedAt: isoTime().optional(),
    backend: z.enum(['debootstrap', 'mmdebstrap']).describe('"debootstrap" or "mmdebstrap"'),
    /** true when the base root filesystem came from the cache. */
    fromBaseCache: z.boolean().describe('true or false'),
    /**
     * "overlay": the machine directory is an overlayfs upper directory over the
     * cached base `<stateDir>/base/<base>`; "copy" (or absent, in records
     * written before overlays existed): a full copy of the base.
     */
    storage: z.enum(['copy', 'overlay']).optional().describe('"copy" or "overlay"'),
    /** Name of the base directory under <stateDir>/base ("<recipe>-<key>"); required for "overlay". */
    base: z.string().regex(BASE_NAME).optional().describe('a base directory name ("<recipe>-<16 hex digits>")'),
  })
  .superRefine(
    (v, ctx) => {
      if (v.storage === 'overlay' && v.base === undefined) ctx.addIssue({ code: 'custom', path: ['base'], message: 'the base of an overlay machine', params: { expected: true } });
    },
    // Checked even when another field is wrong: every problem at once.
    { when: () => true },
  );

export type Provenance = z.output<typeof ProvenanceSchema>;

export const FirstBootResultSchema = z.object({
  status: z.enum(['success', 'failure']).describe('"success" or "failure"'),
  exitCode: z.number().int().min(0).max(255).describe('an exit code (an integer 0..255)'),
  time: isoTime(),
});

export type FirstBootResult = z.output<typeof FirstBootResultSchema>;

/** A value from a machine, quoted for a message (short; formatError escapes it). */
function shown(value: unknown): string {
  const text = JSON.stringify(value) ?? 'nothing';
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/**
 * Parses a record (an object already) with its schema: the record, or one
 * "field: expected ..., got ..." per wrong field (the field's description says
 * what is expected; a cross-field rule adds its own), in the schema's field order.
 */
export function parseRecord<S extends z.ZodObject>(schema: S, value: Record<string, unknown>): { ok: true; record: z.output<S> } | { ok: false; problems: string[] } {
  const parsed = schema.safeParse(value);
  if (parsed.success) return { ok: true, record: parsed.data };
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const issue of parsed.error.issues) {
    const key = String(issue.path[0] ?? '');
    const own = issue.code === 'custom' && issue.params?.expected === true;
    if (!own && seen.has(key)) continue;
    seen.add(key);
    const expected = own ? issue.message : (schema.shape[key] as z.ZodType | undefined)?.description;
    problems.push(`${key}: expected ${expected ?? 'nothing here'}, got ${shown(value[key])}`);
  }
  return { ok: false, problems };
}
