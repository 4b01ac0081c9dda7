/**
 * Facts about the host that give the configuration its defaults:
 * codename, architecture, whether systemd is PID 1, and the upstream URLs
 * the host's own apt sources use (so no mirror host is hard-coded here).
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import type { HostFacts } from './types.js';
import { CODENAME } from './formats.js';

export function readOsRelease(path = '/etc/os-release'): Record<string, string> {
  const out: Record<string, string> = {};
  if (!existsSync(path)) return out;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const m = /^([A-Z_]+)=(?:"(.*)"|'(.*)'|(.*))$/.exec(line.trim());
    if (m?.[1]) out[m[1]] = m[2] ?? m[3] ?? m[4] ?? '';
  }
  return out;
}

/** suite -> first URI, from one-line `deb URI SUITE ...` entries and deb822 stanzas. */
export function parseAptSources(files: { name: string; text: string }[]): Record<string, string> {
  const bySuite: Record<string, string> = {};
  const add = (uri: string, suite: string) => {
    if (!(suite in bySuite) && /^https?:\/\//.test(uri)) bySuite[suite] = uri.replace(/\/+$/, '');
  };
  for (const { name, text } of files) {
    if (name.endsWith('.sources')) {
      for (const stanza of text.split(/\n\s*\n/)) {
        const fields: Record<string, string> = {};
        let last = '';
        for (const line of stanza.split('\n')) {
          if (line.startsWith('#')) continue;
          const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
          if (m?.[1]) fields[(last = m[1].toLowerCase())] = m[2] ?? '';
          else if (/^\s/.test(line) && last) fields[last] += ` ${line.trim()}`;
        }
        if (fields.enabled?.trim() === 'no' || !(fields.types ?? '').split(/\s+/).includes('deb')) continue;
        const uris = (fields.uris ?? '').split(/\s+/).filter(Boolean);
        for (const suite of (fields.suites ?? '').split(/\s+/).filter(Boolean)) {
          if (uris[0]) add(uris[0], suite);
        }
      }
    } else {
      for (const raw of text.split('\n')) {
        const line = raw.replace(/#.*/, '').replace(/\[[^\]]*\]/, '').trim();
        const m = /^deb\s+(\S+)\s+(\S+)/.exec(line);
        if (m?.[1] && m[2]) add(m[1], m[2]);
      }
    }
  }
  return bySuite;
}

function readHostAptSources(): Record<string, string> {
  const files: { name: string; text: string }[] = [];
  const tryRead = (p: string) => {
    try {
      files.push({ name: p, text: readFileSync(p, 'utf8') });
    } catch {
      /* unreadable or absent: not a source */
    }
  };
  tryRead('/etc/apt/sources.list');
  const dir = '/etc/apt/sources.list.d';
  if (existsSync(dir)) {
    for (const f of readdirSync(dir).sort()) {
      if (f.endsWith('.list') || f.endsWith('.sources')) tryRead(join(dir, f));
    }
  }
  return parseAptSources(files);
}

function hostArchitecture(): string {
  try {
    return execFileSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).trim();
  } catch {
    return process.arch === 'arm64' ? 'arm64' : 'amd64';
  }
}

export function systemdIsPid1(): boolean {
  // sd_booted(3): /run/systemd/system exists iff systemd is the init system.
  return existsSync('/run/systemd/system');
}

let cached: HostFacts | undefined;
export function hostFacts(): HostFacts {
  if (cached) return cached;
  const os = readOsRelease();
  cached = {
    codename: os.VERSION_CODENAME || 'bookworm',
    architecture: hostArchitecture(),
    systemdPid1: systemdIsPid1(),
    aptSources: readHostAptSources(),
  };
  return cached;
}

/**
 * debootstrap's own default mirror for a suite: evaluate its suite script
 * with stub directives (default_mirror is what we want), else the DEF_MIRROR
 * of /usr/sbin/debootstrap. Returns undefined when debootstrap is absent or
 * has no script for the suite.
 */
export function debootstrapDefaultMirror(suite: string, arch: string): string | undefined {
  const script = `/usr/share/debootstrap/scripts/${suite}`;
  // debootstrap cannot bootstrap a suite it has no script for: no default then.
  if (!CODENAME.test(suite) || !existsSync(script)) return undefined;
  {
    try {
      const probe =
        'command_not_found_handle() { return 0; }; default_mirror() { printf "%s\\n" "$1" >&3; exit 0; }; ' +
        'exec 3>&1; ARCH="$1"; SUITE="$2"; DEBOOTSTRAP_DIR=/nonexistent; . "$3" >/dev/null 2>&1; exit 3';
      const out = execFileSync('bash', ['-c', probe, 'bash', arch, suite, script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      if (/^https?:\/\/\S+$/.test(out.trim())) return out.trim();
    } catch {
      /* no default_mirror in the suite script: fall through */
    }
  }
  try {
    const m = /^DEF_MIRROR="([^"]+)"/m.exec(readFileSync('/usr/sbin/debootstrap', 'utf8'));
    return m?.[1];
  } catch {
    return undefined;
  }
}
