/**
 * The suites of a codename, the Debian way: the release itself
 * (`bookworm`), its stable updates (`bookworm-updates`) and its security
 * updates (`bookworm-security`), each published as its own signed suite.
 * One owner of the naming rule and of each suite's default upstream, so the
 * recipe resolver, the mirror and the machines agree.
 */
import { CODENAME } from './formats.js';

/** The update suites' suffixes, in the order sources list them (apt's usual order). */
export const UPDATE_KINDS = ['updates', 'security'] as const;
export type SuiteKind = 'release' | (typeof UPDATE_KINDS)[number];

/** Codenames that have no update suites (Debian's development suites). */
export const WITHOUT_UPDATES: ReadonlySet<string> = new Set(['sid', 'unstable', 'experimental', 'rc-buggy']);

/**
 * Whether a release of this codename can have update suites: not a
 * development suite (WITHOUT_UPDATES), and no "-" in it (Debian's and
 * Ubuntu's codenames have none; `bookworm-backports` or `bookworm-proposed`
 * is a suite of its own, never the release of a family).
 */
export function hasUpdateSuites(codename: string): boolean {
  return CODENAME.test(codename) && !codename.includes('-') && !WITHOUT_UPDATES.has(codename);
}

/** The suites a recipe of this codename uses: the release first, then its update suites (none when `updates` is false or the codename has none: hasUpdateSuites). */
export function suitesOf(codename: string, updates: boolean): string[] {
  if (!updates || !hasUpdateSuites(codename)) return [codename];
  return [codename, ...UPDATE_KINDS.map((k) => `${codename}-${k}`)];
}

/** What a suite name is: `bookworm` -> release of bookworm, `bookworm-security` -> security of bookworm. */
export function suiteKind(suite: string): { codename: string; kind: SuiteKind } {
  for (const kind of UPDATE_KINDS) {
    const suffix = `-${kind}`;
    if (suite.endsWith(suffix) && suite.length > suffix.length) {
      const codename = suite.slice(0, -suffix.length);
      if (hasUpdateSuites(codename)) return { codename, kind };
    }
  }
  return { codename: suite, kind: 'release' };
}

/** Whether `suite` is `codename` itself or one of its update suites. */
export function inFamily(codename: string, suite: string): boolean {
  return suiteKind(suite).codename === codename;
}

/**
 * The default upstream of an update suite, from the release's upstream:
 * `-updates` lives in the same archive; `-security` of a Debian archive (a
 * path ending in `/debian`) is the sibling `<path>-security` on the same
 * host, as Debian and its mirrors lay it out (`http://deb.debian.org/debian`
 * -> `http://deb.debian.org/debian-security`, `http://mirror.example.org/pub/debian`
 * -> `http://mirror.example.org/pub/debian-security`), and any other archive
 * carries its own `-security` suite (Ubuntu's layout).
 */
export function defaultUpdateUpstream(releaseUpstream: string, kind: SuiteKind): string {
  const base = releaseUpstream.replace(/\/+$/, '');
  if (kind !== 'security' || !/\/debian$/.test(base)) return base;
  return `${base}-security`;
}
