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

export interface FirstBootResult {
  status: 'success' | 'failure';
  exitCode: number;
  time: string;
}

export interface Provenance {
  machine: string;
  recipe: string;
  recipeHash: string;
  codename: string;
  /** sha256 of dists/<codename>/InRelease the machine was built from. */
  inReleaseSha256: string;
  /**
   * Digest of the package set that publication signed (base-cache indexDigest):
   * unchanged by a date-only republish. Absent in records written before it existed.
   */
  indexDigest?: string;
  builtAt: string;
  backend: 'debootstrap' | 'mmdebstrap';
  /** true when the base root filesystem came from the cache. */
  fromBaseCache: boolean;
  /**
   * "overlay": the machine directory is an overlayfs upper directory over the
   * cached base `<stateDir>/base/<base>`; "copy" (or absent, in records
   * written before overlays existed): a full copy of the base.
   */
  storage?: 'copy' | 'overlay';
  /** Name of the base directory under <stateDir>/base ("<recipe>-<key>"); required for "overlay". */
  base?: string;
}
