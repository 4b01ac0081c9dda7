/**
 * The tools `doctor` must know about, in its order, with the Debian package
 * and whether a missing one is optional: written out here, independently of
 * src/host/doctor.ts, for the unit and the integration test of doctor.
 */
export const DOCTOR_TOOLS: ReadonlyArray<readonly [tool: string, pkg: string, optional: boolean]> = [
  ['debootstrap', 'debootstrap', false],
  ['systemd-nspawn', 'systemd-container', false],
  ['apt-ftparchive', 'apt-utils', false],
  ['gpg', 'gnupg', false],
  ['dpkg-deb', 'dpkg', false],
  ['xz', 'xz-utils', false],
  ['mmdebstrap', 'mmdebstrap', true],
  ['apt-move', 'apt-move', true],
  ['lz4', 'lz4', true],
];
