/**
 * Download progress with totals from apt's status lines: `apt-get -o
 * APT::Status-Fd=1 download` prints "dlstatus:N:PCT:Retrieving file N of M"
 * (PCT: percent of all bytes to fetch; file N is the one in flight, so N - 1
 * are done until PCT reaches 100). The totals come from the verified lists
 * (each .deb's Size), known before the first byte is fetched.
 */
import type { ProgressSink } from '../progress.js';

export interface DlStatus {
  /** The file in flight (1-based), and how many apt fetches in all. */
  item: number;
  items: number;
  /** Percent of all bytes fetched, 0-100. */
  percent: number;
}

const DLSTATUS = /^dlstatus:(\d{1,9}):(\d{1,3}(?:\.\d{1,6})?):Retrieving file (\d{1,9}) of (\d{1,9})$/;

/** One status line, or undefined for any other line (apt's "Get:" and "Fetched" lines, warnings). */
export function parseDlStatus(line: string): DlStatus | undefined {
  const m = DLSTATUS.exec(line.trim());
  if (!m) return undefined;
  const percent = Number(m[2]);
  const items = Number(m[4]);
  if (!(percent >= 0 && percent <= 100) || items < 1) return undefined;
  return { item: Number(m[1]), items, percent };
}

export interface DownloadTotals {
  stage: string;
  /** .debs to fetch and their bytes (the lists' Size fields). */
  total: number;
  totalBytes: number;
}

/**
 * An onLine filter for apt-get download: folds status lines into progress
 * events on `sink` (never backwards) and returns true for the lines it took
 * (status lines and the per-file "Get:" lines the progress replaces); other
 * lines are for the log. `finish()` reports everything done (after apt-get succeeded).
 */
export function downloadProgress(sink: ProgressSink, totals: DownloadTotals): { onLine: (line: string) => boolean; finish: () => void } {
  let done = 0;
  let bytes = 0;
  const emit = (): void => sink({ stage: totals.stage, done, total: totals.total, unit: 'packages', bytes, totalBytes: totals.totalBytes });
  emit();
  return {
    onLine: (line) => {
      if (/^Get:\d+ /.test(line)) return true;
      const s = parseDlStatus(line);
      if (!s) return line.startsWith('dlstatus:');
      const nowDone = Math.min(totals.total, s.percent >= 100 ? totals.total : Math.max(0, s.item - 1));
      const nowBytes = Math.min(totals.totalBytes, Math.round((s.percent / 100) * totals.totalBytes));
      if (nowDone <= done && nowBytes <= bytes) return true;
      done = Math.max(done, nowDone);
      bytes = Math.max(bytes, nowBytes);
      emit();
      return true;
    },
    finish: () => {
      if (done === totals.total && bytes === totals.totalBytes) return;
      done = totals.total;
      bytes = totals.totalBytes;
      emit();
    },
  };
}
