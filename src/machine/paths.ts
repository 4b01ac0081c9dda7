/**
 * Paths shared by first-boot injection (which writes them into the
 * container) and provisioning (which reads them back from the host side).
 * All are absolute paths *inside* the container root.
 */
export const FIRSTBOOT = {
  /** The run-once script; removed by itself after it ran. */
  script: '/usr/local/lib/nspawn-kit/firstboot.sh',
  /** systemd oneshot unit that runs the script (mechanism "systemd"). */
  unit: '/etc/systemd/system/nspawn-kit-firstboot.service',
  /** rc.local (mechanism "rc.local", the original recipe). */
  rcLocal: '/etc/rc.local',
  /** Log of the first boot (also in the journal). */
  log: '/var/log/nspawn-kit-firstboot.log',
  /**
   * Result marker, JSON: {"status":"success"|"failure","exitCode":N,"time":"ISO-8601"}.
   * Written once by the first-boot script, read by `provision` and `list`.
   */
  marker: '/var/lib/nspawn-kit/firstboot.json',
} as const;

/** Provenance record inside the container root (and copied beside it by `list`). */
export const PROVENANCE = '/var/lib/nspawn-kit/provenance.json';

/** Where the local mirror is bind-mounted read-only inside containers. */
export const MIRROR_MOUNT = '/var/local/nspawn-kit-mirror';

/** The records' types come from their zod schemas. */
export type { FirstBootResult, Provenance } from './provenance-schema.js';
