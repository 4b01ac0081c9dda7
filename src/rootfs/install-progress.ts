/**
 * How far a bootstrap or a package installation is, from the tools' own
 * output lines, with totals:
 * - debootstrap prints "I: Retrieving X V" and "I: Validating X V" for every
 *   package of the base set before it extracts, unpacks and configures them
 *   ("I: Extracting X...", "I: Unpacking X...", "I: Configuring X..."): the
 *   packages validated are the total of the later steps;
 * - apt-get (inside the machine, and in mmdebstrap) prints its summary
 *   ("N upgraded, M newly installed, …") before dpkg's "Unpacking X (V) ..."
 *   and "Setting up X (V) ..." lines: N + M is the total, summed over the
 *   apt-get runs of one step (install, then upgrade).
 * Each package counts once per step (debootstrap configures libc-bin again
 * after a trigger, for instance), and never beyond the total.
 */
import type { ProgressEvent, ProgressSink } from '../progress.js';

export interface BootstrapProgress {
  /** Last stage seen, e.g. "retrieving", "unpacking". */
  stage: 'starting' | 'retrieving' | 'validating' | 'extracting' | 'unpacking' | 'configuring' | 'done';
  retrieved: number;
  validated: number;
  extracted: number;
  unpacked: number;
  configured: number;
  /** Package the last line was about. */
  current?: string;
  /** Packages apt-get's summary lines said it installs or upgrades (summed); absent before the first summary. */
  aptTotal?: number;
  /** Packages already counted in each step (a package repeated in a step counts once). */
  seen?: Partial<Record<Counter, string[]>>;
}

type Step = Exclude<BootstrapProgress['stage'], 'starting' | 'done'>;
type Counter = 'retrieved' | 'validated' | 'extracted' | 'unpacked' | 'configured';

export function emptyProgress(): BootstrapProgress {
  return { stage: 'starting', retrieved: 0, validated: 0, extracted: 0, unpacked: 0, configured: 0 };
}

// "I: Retrieving adduser 3.134" / "I: Validating adduser 3.134": a package name, then its version.
const FETCH_LINE = /^I: (Retrieving|Validating) ([a-z0-9][a-z0-9+.-]+) \S/;
// "I: Unpacking libc6:amd64..." (but not "I: Unpacking required packages...").
const INSTALL_LINE = /^I: (Extracting|Unpacking|Configuring) ([a-z0-9][a-z0-9+.-]+)(?::[a-z0-9-]+)?\.\.\.$/;
// dpkg's own lines, through apt-get (inside the machine) or mmdebstrap --verbose.
const DPKG_LINE = /^(Unpacking|Setting up) ([a-z0-9][a-z0-9+.-]+)/;
// apt-get's summary before it runs dpkg.
const APT_SUMMARY = /^(\d{1,6}) upgraded, (\d{1,6}) newly installed, \d{1,6} to remove and \d{1,6} not upgraded\.$/;

const STAGE_OF = {
  Retrieving: 'retrieving',
  Validating: 'validating',
  Extracting: 'extracting',
  Unpacking: 'unpacking',
  Configuring: 'configuring',
  'Setting up': 'configuring',
} as const;
const COUNTER_OF: Record<Step, Counter> = {
  retrieving: 'retrieved',
  validating: 'validated',
  extracting: 'extracted',
  unpacking: 'unpacked',
  configuring: 'configured',
};

/**
 * Folds one output line into the progress counts; returns true when the line
 * changed them. Index downloads ("I: Retrieving InRelease") and stage headers
 * ("I: Unpacking required packages...") are not packages and are not counted.
 */
export function parseProgressLine(progress: BootstrapProgress, line: string): boolean {
  if (line.startsWith('I: Base system installed successfully')) {
    progress.stage = 'done';
    return true;
  }
  const summary = APT_SUMMARY.exec(line.trim());
  if (summary) {
    progress.aptTotal = (progress.aptTotal ?? 0) + Number(summary[1]) + Number(summary[2]);
    return true;
  }
  const m = FETCH_LINE.exec(line) ?? INSTALL_LINE.exec(line) ?? DPKG_LINE.exec(line);
  if (!m) return false;
  const stage = STAGE_OF[m[1] as keyof typeof STAGE_OF];
  const name = m[2] as string;
  const counter = COUNTER_OF[stage];
  const seen = ((progress.seen ??= {})[counter] ??= []);
  progress.stage = stage;
  progress.current = name;
  if (seen.includes(name)) return true;
  seen.push(name);
  progress[counter]++;
  return true;
}

/** Packages the unpack and configure steps go through: apt's summaries, else the packages debootstrap validated (once it has moved on). */
export function progressTotal(p: BootstrapProgress): number | undefined {
  if (p.aptTotal !== undefined) return p.aptTotal;
  return p.validated > 0 && p.stage !== 'retrieving' && p.stage !== 'validating' ? p.validated : undefined;
}

const STEP_NAME: Partial<Record<BootstrapProgress['stage'], [string, Counter]>> = {
  retrieving: ['retrieve', 'retrieved'],
  validating: ['retrieve', 'retrieved'],
  extracting: ['extract', 'extracted'],
  unpacking: ['unpack', 'unpacked'],
  configuring: ['configure', 'configured'],
};

/**
 * The progress event of the step the last line was about, for sh.progress: "bootstrap unpack:
 * 40/88 packages"; debootstrap's retrieval has no total (it names no package before it fetches it).
 */
export function progressEvent(label: string, p: BootstrapProgress): ProgressEvent | undefined {
  const step = STEP_NAME[p.stage];
  if (!step) return undefined;
  const total = progressTotal(p);
  const done = p[step[1]];
  if (step[0] === 'retrieve') return { stage: `${label} retrieve`, done, unit: 'packages' };
  return total === undefined ? undefined : { stage: `${label} ${step[0]}`, done: Math.min(done, total), total, unit: 'packages' };
}

/**
 * An onLine for debootstrap, mmdebstrap or apt-get: folds each line into `counts` and reports
 * the step's progress to `sink` when it moved (a repeated line reports nothing). Returns
 * whether the line changed the counts.
 */
export function progressLines(label: string, counts: BootstrapProgress, sink: ProgressSink): (line: string) => boolean {
  const last = new Map<string, number>();
  return (line) => {
    const before = counts.stage;
    if (!parseProgressLine(counts, line)) return false;
    // Retrieval over: its count is the total (its last count may have been throttled away).
    if ((before === 'retrieving' || before === 'validating') && (counts.stage !== 'retrieving' && counts.stage !== 'validating')) {
      sink({ stage: `${label} retrieve`, done: counts.retrieved, total: counts.retrieved, unit: 'packages' });
    }
    const event = progressEvent(label, counts);
    if (event && last.get(event.stage) !== event.done) {
      last.set(event.stage, event.done);
      sink(event);
    }
    return true;
  };
}

/** After the tool succeeded: unpack and configure at done === total where their lines fell short (a package dpkg only triggers prints no line of its own). */
export function finalEvents(label: string, p: BootstrapProgress): ProgressEvent[] {
  const total = progressTotal({ ...p, stage: 'done' });
  if (total === undefined) return [];
  const steps = [['unpack', p.unpacked], ['configure', p.configured]] as const;
  return steps.filter(([, done]) => done < total).map(([step]) => ({ stage: `${label} ${step}`, done: total, total, unit: 'packages' }));
}

/** One line for the progress display: "unpacking libc6 (retrieved 88, unpacked 40/88, configured 0/88)". */
export function formatProgress(p: BootstrapProgress): string {
  const what = p.current ? ` ${p.current}` : '';
  const total = progressTotal(p);
  const of = total === undefined ? '' : `/${total}`;
  return `${p.stage}${what} (retrieved ${p.retrieved}, unpacked ${p.unpacked}${of}, configured ${p.configured}${of})`;
}
