/**
 * What the local mirror now offers a machine: its installed packages (its
 * dpkg status, dpkg-status.ts) against the published Packages indices of
 * the machine's suites, computed on the host without booting it.
 *
 * A package is upgradable when some suite of the machine offers a higher
 * version (dpkg's ordering) for its architecture or for "all"; it is a
 * security update when that highest version is offered by the -security
 * suite. That is apt's choice with the default priorities (every suite 500:
 * the highest version wins). The indices are the mirror's own published
 * files (the host wrote and signed them); each is parsed once per `list`
 * run, whatever the number of machines (MirrorOffers).
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/types.js';
import { inFamily, suiteKind } from '../config/suite-family.js';
import { compareVersions } from '../mirror/deb-version.js';
import { mirrorLayout } from '../mirror/layout.js';
import { CODENAME } from '../mirror/suites.js';
import { parsePackagesIndex } from '../mirror/trusted-index.js';
import { resolveRecipe } from '../config/recipes.js';
import { readMachineDpkgStatus, type InstalledPackage } from './dpkg-status.js';
import type { MachineHandle } from './handle.js';
import type { Provenance } from './paths.js';

/** One version a suite offers. */
export interface Offer {
  version: string;
  architecture: string;
  suite: string;
}

/** Offers by package name. */
export type Offers = ReadonlyMap<string, readonly Offer[]>;

export interface Upgrade {
  name: string;
  architecture: string;
  installed: string;
  candidate: string;
  /** The suite offering the candidate (the -security one when several do). */
  suite: string;
  security: boolean;
}

export interface UpdateCounts {
  /** Suites the count was made against. */
  suites: string[];
  upgradable: number;
  security: number;
  packages: Upgrade[];
}

/** Adds the packages of one suite's index to offers (name -> versions). */
export function addOffers(offers: Map<string, Offer[]>, suite: string, packages: Iterable<{ name: string; version: string; architecture: string }>): void {
  for (const p of packages) {
    const list = offers.get(p.name);
    const offer = { version: p.version, architecture: p.architecture, suite };
    if (list) list.push(offer);
    else offers.set(p.name, [offer]);
  }
}

/**
 * The upgrades of a machine: for each installed package, the highest
 * version its suites offer for its architecture or "all", when higher than
 * the installed one. Sorted by name, then architecture.
 */
export function upgradesOf(installed: readonly InstalledPackage[], offers: Offers, suites: readonly string[]): Upgrade[] {
  const allowed = new Set(suites);
  const out: Upgrade[] = [];
  for (const pkg of installed) {
    let best: Offer | undefined;
    let security = false;
    for (const offer of offers.get(pkg.name) ?? []) {
      if (!allowed.has(offer.suite) || (offer.architecture !== pkg.architecture && offer.architecture !== 'all')) continue;
      const cmp = best ? compareVersions(offer.version, best.version) : 1;
      if (cmp > 0) {
        best = offer;
        security = suiteKind(offer.suite).kind === 'security';
      } else if (cmp === 0 && suiteKind(offer.suite).kind === 'security') {
        best = offer;
        security = true;
      }
    }
    if (best && compareVersions(best.version, pkg.version) > 0) {
      out.push({ name: pkg.name, architecture: pkg.architecture, installed: pkg.version, candidate: best.version, suite: best.suite, security });
    }
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.architecture < b.architecture ? -1 : a.architecture > b.architecture ? 1 : 0));
}

export function countUpdates(installed: readonly InstalledPackage[], offers: Offers, suites: readonly string[]): UpdateCounts {
  const packages = upgradesOf(installed, offers, suites);
  return { suites: [...suites], upgradable: packages.length, security: packages.filter((p) => p.security).length, packages };
}

/**
 * The suites a machine uses: its recipe's (in the recipe's order) and those
 * its provenance recorded (its build or its last upgrade), both: a suite
 * missing from the record (not published at the last upgrade) is still
 * looked at once it is; else its codename alone. Only suites of its own
 * codename family are ever looked at (the provenance is the container's to write).
 */
export function machineSuites(codename: string, recorded: readonly string[] | undefined, recipeSuites: readonly string[] | undefined): string[] {
  const pick = [...(recipeSuites ?? []), ...(recorded ?? [])];
  const family = pick.filter((s) => CODENAME.test(s) && inFamily(codename, s));
  return family.length ? [...new Set(family)] : [codename];
}

/** A machine's suites from its provenance and, while the configuration still resolves it, its recipe. */
export function suitesOfMachine(config: Config, prov: Pick<Provenance, 'codename' | 'recipe' | 'suites'>): string[] {
  let recipeSuites: string[] | undefined;
  try {
    recipeSuites = resolveRecipe(config, prov.recipe).suites;
  } catch {
    recipeSuites = undefined; // a recipe gone from the configuration: the recorded suites or the codename
  }
  return machineSuites(prov.codename, prov.suites ? Object.keys(prov.suites) : undefined, recipeSuites);
}

/**
 * The published indices of the mirror, each suite read and parsed once
 * (dists/<suite>/main/binary-<arch>/Packages for every configured
 * architecture). A suite that is not published offers nothing.
 */
export class MirrorOffers {
  /** Every loaded suite's offers in one map: upgradesOf keeps only the machine's suites. */
  private readonly offers = new Map<string, Offer[]>();
  private readonly loaded = new Map<string, Promise<string[]>>();

  constructor(private readonly config: Pick<Config, 'mirror' | 'stateDir'>) {}

  private async read(suite: string): Promise<string[]> {
    const problems: string[] = [];
    const dists = mirrorLayout(this.config).dists;
    for (const arch of this.config.mirror.architectures) {
      const file = join(dists, suite, 'main', `binary-${arch}`, 'Packages');
      const text = await fsp.readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') problems.push(`${file} cannot be read (${err.code ?? err.message})`);
        return undefined;
      });
      if (text !== undefined) addOffers(this.offers, suite, parsePackagesIndex(text));
    }
    return problems;
  }

  /** What the mirror offers, with the given suites loaded, and the problems met reading them. */
  async of(suites: readonly string[]): Promise<{ offers: Offers; problems: string[] }> {
    const problems: string[] = [];
    for (const suite of suites) {
      let loading = this.loaded.get(suite);
      if (!loading) {
        loading = this.read(suite);
        this.loaded.set(suite, loading);
      }
      problems.push(...(await loading));
    }
    return { offers: this.offers, problems };
  }
}

/** A machine's updates, or why they are unknown; problems met on the way (a bad stanza, an unreadable index). */
export interface MachineUpdates {
  counts?: UpdateCounts;
  problems: string[];
}

/**
 * The updates of one machine: its suites (machineSuites), its dpkg status
 * (read from records, the root or an unmounted overlay's upper directory, and
 * its base), the mirror's offers.
 */
export async function machineUpdates(
  config: Config,
  offers: MirrorOffers,
  handle: MachineHandle,
  records: string,
  prov: Pick<Provenance, 'codename' | 'recipe' | 'suites'>,
): Promise<MachineUpdates> {
  const suites = suitesOfMachine(config, prov);
  const status = await readMachineDpkgStatus(handle, records);
  if (!status.ok) return { problems: [`updates unknown: ${status.reason}`] };
  const { offers: offered, problems } = await offers.of(suites);
  return { counts: countUpdates(status.status.installed, offered, suites), problems: [...status.status.problems, ...problems] };
}
