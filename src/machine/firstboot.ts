/**
 * The run-once first-boot script and the two mechanisms that start it: a
 * systemd oneshot unit (default) or /etc/rc.local (the original recipe; on
 * Debian, systemd-rc-local-generator pulls rc-local.service into
 * multi-user.target when /etc/rc.local is executable). Pure renderers.
 */
import { posix } from 'node:path';
import type { Recipe } from '../config/types.js';
import { FIRSTBOOT } from './paths.js';
import { MIRROR_SOURCES } from './sources.js';
import { shellQuote } from './render.js';
import { SAFE_NAME } from '../config/schema.js';
import { scriptText } from '../config/formats.js';
import { OperationError } from '../errors.js';

export const FIRSTBOOT_UNIT_NAME = posix.basename(FIRSTBOOT.unit);
/** The enablement symlink, written directly into the root (no systemctl needed on the host). */
export const FIRSTBOOT_WANTS_LINK = `/etc/systemd/system/multi-user.target.wants/${FIRSTBOOT_UNIT_NAME}`;

export interface FirstBootScriptOptions {
  machine: string;
  recipe: Pick<Recipe, 'name' | 'steps'>;
  /**
   * Link /etc/resolv.conf to systemd-resolved's file (when resolved is
   * installed). Only for a private network: with the host's network the
   * container's resolved knows no DNS server (measured: "No DNS servers
   * known", lookups fail), while systemd-nspawn's --resolv-conf=auto gives
   * the container the host's resolv.conf. Default false.
   */
  linkResolvConf?: boolean;
  /**
   * Prepended to every path the script touches. Tests only: lets the script
   * run on the host against a temp dir. Empty in containers.
   */
  prefix?: string;
}

/**
 * Why the script is shaped like this:
 * - the work runs in a subshell piped through tee, so the log file is complete
 *   before the marker is written (the host reads the marker, then the log);
 * - the marker is written on success and on failure (and by the EXIT trap if
 *   the script is killed, e.g. at shutdown), atomically (temp + mv);
 * - the script deletes itself and its wants-link whatever happened, so it runs
 *   exactly once; the unit's ConditionPathExists= and rc.local's `[ -f ]`
 *   both test the script's path;
 * - apt-get update reads only the local mirror's .sources: first boot needs no
 *   network and does not fail on an unreachable upstream (steps that need the
 *   upstream or extra repositories run `apt-get update` themselves); that
 *   .sources names every suite of the recipe (release, -updates, -security),
 *   so the upgrade that follows takes the security fixes the mirror carries,
 *   offline, new dependencies included (--with-new-pkgs; nothing is removed);
 * - units are enabled only if installed: systemd-resolved is a separate
 *   package on bookworm and absent from minbase; resolv.conf is linked only
 *   when it is there and the container has its own network (linkResolvConf).
 */
export function renderFirstBootScript(opts: FirstBootScriptOptions): string {
  const p = opts.prefix ?? '';
  // Names appear unquoted in comments and echo lines: only safe names get there.
  for (const [what, name] of [
    ['machine', opts.machine],
    ['recipe', opts.recipe.name],
  ] as const) {
    if (!SAFE_NAME.test(name)) throw new OperationError(`${what} name ${JSON.stringify(name)} is not a safe name`, 'Use letters, digits, ".", "_" and "-".');
  }
  const steps = opts.recipe.steps.map((step, i) => {
    const why = scriptText(step);
    if (why) throw new OperationError(`recipe ${opts.recipe.name}: steps[${i}] ${why}`, 'Fix "steps" in the recipe.');
    return `  run_step ${i + 1} ${shellQuote(step)}`;
  });
  const resolvConf = opts.linkResolvConf
    ? '    ln -sf /run/systemd/resolve/resolv.conf "$ROOT/etc/resolv.conf"'
    : '    echo "nspawn-kit: host network: /etc/resolv.conf left to systemd-nspawn"';
  return `#!/bin/bash
# nspawn-kit first boot of machine ${opts.machine} (recipe ${opts.recipe.name}).
# Runs once, then removes itself. Output: the journal (the unit's
# StandardOutput=journal+console; rc-local.service has the same on Debian)
# and ${FIRSTBOOT.log}. Result: ${FIRSTBOOT.marker}.
set -euo pipefail

readonly ROOT=${shellQuote(p)}
readonly SCRIPT="$ROOT"${shellQuote(FIRSTBOOT.script)}
readonly LOG="$ROOT"${shellQuote(FIRSTBOOT.log)}
readonly MARKER="$ROOT"${shellQuote(FIRSTBOOT.marker)}
readonly WANTS_LINK="$ROOT"${shellQuote(FIRSTBOOT_WANTS_LINK)}
readonly MIRROR_SOURCES="$ROOT"${shellQuote(MIRROR_SOURCES)}
export DEBIAN_FRONTEND=noninteractive
finished=0

finish() { # status exit-code
  local tmp="$MARKER.tmp.$$"
  mkdir -p "$(dirname "$MARKER")"
  printf '{"status":"%s","exitCode":%d,"time":"%s"}\\n' "$1" "$2" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$tmp"
  mv -f "$tmp" "$MARKER"
  rm -f "$SCRIPT" "$WANTS_LINK"
  finished=1
  sync || true
}

on_exit() {
  local code=$?
  if [ "$finished" = 0 ]; then
    [ "$code" -ne 0 ] || code=1
    echo "nspawn-kit: first boot interrupted (exit $code)" >>"$LOG" || true
    finish failure "$code" || true
  fi
}
trap on_exit EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

unit_exists() {
  local dir
  for dir in /etc/systemd/system /lib/systemd/system /usr/lib/systemd/system; do
    [ -e "$ROOT$dir/$1" ] && return 0
  done
  return 1
}

enable_unit() {
  if ! unit_exists "$1"; then
    echo "nspawn-kit: $1 is not installed, not enabled"
    return 0
  fi
  # --now only while systemd runs (not when the script is run in a chroot).
  if [ -d "$ROOT/run/systemd/system" ]; then
    systemctl enable --now "$1"
  else
    systemctl enable "$1"
  fi
}

run_step() { # number command
  local rc=0
  echo "nspawn-kit: step $1: $2"
  bash -euo pipefail -c "$2" || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "nspawn-kit: step $1 failed with exit code $rc: $2"
    return "$rc"
  fi
}

main() {
  echo "nspawn-kit: first boot of ${opts.machine} started $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  enable_unit systemd-networkd.service
  if unit_exists systemd-resolved.service; then
    enable_unit systemd-resolved.service
${resolvConf}
  fi
  echo "nspawn-kit: apt-get update from the local mirror"
  apt-get update -o Dir::Etc::SourceList="$MIRROR_SOURCES" -o Dir::Etc::SourceParts=- -o APT::Get::List-Cleanup=0
  apt-get -y --with-new-pkgs -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold upgrade
${steps.join('\n')}
}

mkdir -p "$(dirname "$LOG")"
set +e
( set -e; main ) 2>&1 | tee -a "$LOG"
status=\${PIPESTATUS[0]}
set -e
if [ "$status" -eq 0 ]; then
  echo "nspawn-kit: first boot succeeded" | tee -a "$LOG"
  finish success 0
else
  echo "nspawn-kit: first boot failed with exit code $status" | tee -a "$LOG"
  finish failure "$status"
fi
exit "$status"
`;
}

/** The oneshot unit: runs the script while it exists, i.e. once. */
export function renderFirstBootUnit(): string {
  return `# Written by nspawn-kit: runs the first-boot script once (it removes itself).
[Unit]
Description=nspawn-kit first boot (runs once)
ConditionPathExists=${FIRSTBOOT.script}
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
RemainAfterExit=no
ExecStart=/bin/bash ${FIRSTBOOT.script}
StandardOutput=journal+console
StandardError=journal+console
SyslogIdentifier=nspawn-kit-firstboot
TimeoutStartSec=infinity

[Install]
WantedBy=multi-user.target
`;
}

const RC_BEGIN = '# BEGIN nspawn-kit first boot';
const RC_END = '# END nspawn-kit first boot';

function rcLocalBlock(): string {
  const s = FIRSTBOOT.script;
  return `${RC_BEGIN}
if [ -f ${s} ]; then
  /bin/bash ${s} && rm -f ${s}
fi
${RC_END}
`;
}

/**
 * /etc/rc.local (mode 0755) as in the original recipe. An rc.local already in
 * the root keeps its content: our block goes right after its first line (the
 * interpreter) and replaces an earlier block of ours.
 */
export function renderRcLocal(existing?: string): string {
  if (existing === undefined || existing.trim() === '') {
    return `#!/bin/sh\n# Written by nspawn-kit.\n${rcLocalBlock()}exit 0\n`;
  }
  const cleaned = existing.replace(new RegExp(`${RC_BEGIN}[\\s\\S]*?${RC_END}\\n?`), '');
  const nl = cleaned.indexOf('\n');
  const [first, rest] = cleaned.startsWith('#!') && nl >= 0 ? [cleaned.slice(0, nl + 1), cleaned.slice(nl + 1)] : ['#!/bin/sh\n', cleaned];
  return `${first}${rcLocalBlock()}${rest}`;
}
