/**
 * "Can the upstream be reached?" for `mirror warm`, in the two forms a run
 * takes:
 * - a real run: apt-get update in the private root fails; its "Failed to
 *   fetch URL  REASON" lines become one error that names every suite's URL
 *   and the reason (the command line stays out of the headline);
 * - a dry run updates nothing, so it would otherwise plan from no lists (or
 *   old ones) and report zero: it asks each suite's upstream for
 *   dists/<suite>/InRelease (else Release), as apt-get update would first,
 *   and fails the same way when one does not answer. A proxy from the
 *   environment (http_proxy...) is what apt would use and this probe cannot:
 *   then the probe is skipped, with a log line.
 * Both are OperationErrors (exit 1).
 */
import { existsSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import type { Recipe } from '../config/types.js';
import { CommandError, OperationError } from '../errors.js';
import { aptUri } from './apt-root.js';

const PROBE_TIMEOUT_MS = 20_000;

function hint(recipe: Pick<Recipe, 'name'>): string {
  return `Check the upstream URL (mirror.upstreams in the configuration, or the upstream of recipe ${recipe.name}) and the network, then run again.`;
}

function unreachable(recipe: Pick<Recipe, 'name'>, lines: string[]): OperationError {
  return new OperationError(`the upstream of recipe ${recipe.name} could not be reached:\n${lines.map((l) => `  ${l}`).join('\n')}`, hint(recipe));
}

/** apt-get update's "E: Failed to fetch URL  REASON" lines, as "URL: REASON". */
export function failedFetches(output: string): string[] {
  return [...output.matchAll(/^E: Failed to fetch (\S+)\s+(.*)$/gm)].map((m) => `${m[1]}: ${(m[2] ?? '').trim() || 'failed'}`);
}

/** apt-get update's failure, as the unreachable upstream it is (else the error unchanged). */
export function unreachableFromApt(err: unknown, recipe: Pick<Recipe, 'name'>): unknown {
  if (!(err instanceof CommandError)) return err;
  const lines = failedFetches(err.stderrTail);
  return lines.length ? unreachable(recipe, lines) : err;
}

function proxied(scheme: string): string | undefined {
  const names = [`${scheme}_proxy`, `${scheme.toUpperCase()}_PROXY`, 'all_proxy', 'ALL_PROXY'];
  return names.find((n) => process.env[n]);
}

/**
 * Why `url` (an InRelease or Release URL) did not answer 2xx to a HEAD, or
 * undefined when it did. node:http, not fetch: fetch refuses the "bad ports"
 * of browsers, which apt reaches. One redirect hop is followed per call
 * (mirrors redirect to https or to another host), up to five.
 */
function probe(url: string, signal: AbortSignal | undefined, hops = 5): Promise<string | undefined> {
  return new Promise((done, fail) => {
    const get = url.startsWith('https:') ? httpsRequest : httpRequest;
    const req = get(url, { method: 'HEAD', timeout: PROBE_TIMEOUT_MS, signal }, (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      const next = res.headers.location;
      if (status >= 300 && status < 400 && next && hops > 0) done(probe(new URL(next, url).href, signal, hops - 1));
      else done(status >= 200 && status < 300 ? undefined : `HTTP ${status} ${res.statusMessage ?? ''}`.trim());
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${PROBE_TIMEOUT_MS / 1000} s`)));
    req.on('error', (err: NodeJS.ErrnoException) => (signal?.aborted ? fail(signal.reason) : done(err.message || err.code || String(err))));
    req.end();
  });
}

/** Why the suite's lists cannot be fetched from `base`, or undefined when InRelease or Release is there. */
async function suiteProblem(base: string, suite: string, signal: AbortSignal | undefined): Promise<string | undefined> {
  const uri = aptUri(base).replace(/\/+$/, '');
  const files = ['InRelease', 'Release'].map((f) => `${uri}/dists/${suite}/${f}`);
  if (uri.startsWith('file://')) {
    const dir = decodeURIComponent(new URL(uri).pathname);
    return ['InRelease', 'Release'].some((f) => existsSync(join(dir, 'dists', suite, f))) ? undefined : `${files[0]}: no such file (nor Release)`;
  }
  const first = await probe(files[0] as string, signal);
  if (first === undefined) return undefined;
  // Only a missing InRelease is worth a second question; a refused connection stays refused.
  if (/^HTTP 404/.test(first) && (await probe(files[1] as string, signal)) === undefined) return undefined;
  return `${files[0]}: ${first}`;
}

/** Every suite of the recipe answers at its upstream, or an OperationError naming each that does not. */
export async function assertUpstreamsReachable(recipe: Pick<Recipe, 'name' | 'suites' | 'upstreams' | 'upstream'>, signal?: AbortSignal, log?: (line: string) => void): Promise<void> {
  const problems: string[] = [];
  for (const suite of recipe.suites) {
    const base = recipe.upstreams[suite] ?? recipe.upstream;
    const scheme = /^([a-z]+):/.exec(base)?.[1] ?? '';
    const proxy = scheme.startsWith('http') ? proxied(scheme) : undefined;
    if (proxy) {
      log?.(`${recipe.name}: dry run: not checking ${base} for ${suite}: apt would go through $${proxy}`);
      continue;
    }
    const why = await suiteProblem(base, suite, signal);
    if (why) problems.push(`${suite}: ${why}`);
  }
  if (problems.length) throw unreachable(recipe, problems);
}
