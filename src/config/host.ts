/**
 * Facts about the host that give the configuration its defaults:
 * codename, architecture, whether systemd is PID 1, the upstream URLs the
 * host's own apt sources use, and debootstrap's default mirror of a suite (so
 * no mirror host is hard-coded here). detectHost() computes them once,
 * asynchronously; loadConfig puts them into the Config every command gets
 * (context.ts). Nothing is cached here: recipe resolution only reads them.
 */
import { trackChild } from '../children.js';
import { execFile } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { HostFacts } from './types.js';
import { CODENAME } from './formats.js';

const execFileNode = promisify(execFile);
/** execFile, registered (children.ts): an interrupt stops these probes like every other child. */
function execFileAsync(file: string, args: string[], opts: { encoding: 'utf8' }): Promise<{ stdout: string }> {
  const run = execFileNode(file, args, opts);
  trackChild(run.child);
  return run;
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await fsp.readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)=(?:"(.*)"|'(.*)'|(.*))$/.exec(line.trim());
    if (m?.[1]) out[m[1]] = m[2] ?? m[3] ?? m[4] ?? '';
  }
  return out;
}

/** suite -> first URI, from one-line `deb URI SUITE ...` entries and deb822 stanzas. */
export function parseAptSources(files: { name: string; text: string }[]): Record<string, string> {
  const bySuite: Record<string, string> = {};
  const add = (uri: string, suite: string) => {
    if (!Object.hasOwn(bySuite, suite) && /^https?:\/\//.test(uri)) bySuite[suite] = uri.replace(/\/+$/, '');
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

async function readHostAptSources(): Promise<Record<string, string>> {
  const names = ['/etc/apt/sources.list'];
  const dir = '/etc/apt/sources.list.d';
  const entries = await fsp.readdir(dir).catch(() => [] as string[]);
  names.push(...entries.sort().filter((f) => f.endsWith('.list') || f.endsWith('.sources')).map((f) => join(dir, f)));
  const files: { name: string; text: string }[] = [];
  for (const name of names) {
    // unreadable or absent: not a source
    const text = await readText(name);
    if (text !== undefined) files.push({ name, text });
  }
  return parseAptSources(files);
}

async function hostArchitecture(): Promise<string> {
  try {
    return (await execFileAsync('dpkg', ['--print-architecture'], { encoding: 'utf8' })).stdout.trim();
  } catch {
    return process.arch === 'arm64' ? 'arm64' : 'amd64';
  }
}

export async function systemdIsPid1(): Promise<boolean> {
  // sd_booted(3): /run/systemd/system exists iff systemd is the init system.
  return fsp.access('/run/systemd/system').then(
    () => true,
    () => false,
  );
}

/**
 * The host's facts, read now (no cache: call it once per process and pass
 * the result down). debootstrapMirrors is left to loadConfig, which knows
 * the suites and the architecture (load.ts withDebootstrapMirrors).
 */
export async function detectHost(): Promise<HostFacts> {
  const [osText, architecture, systemdPid1, aptSources] = await Promise.all([
    readText('/etc/os-release'),
    hostArchitecture(),
    systemdIsPid1(),
    readHostAptSources(),
  ]);
  return {
    codename: parseOsRelease(osText ?? '').VERSION_CODENAME || 'bookworm',
    architecture,
    systemdPid1,
    aptSources,
  };
}

/** debootstrapDefaultMirror for each suite that has one. */
export async function debootstrapDefaultMirrors(suites: Iterable<string>, arch: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const suite of new Set(suites)) {
    const mirror = await debootstrapDefaultMirror(suite, arch);
    if (mirror) out[suite] = mirror;
  }
  return out;
}

/**
 * debootstrap's own default mirror for a suite: evaluate its suite script
 * with stub directives (default_mirror is what we want), else the DEF_MIRROR
 * of /usr/sbin/debootstrap. Returns undefined when debootstrap is absent or
 * has no script for the suite.
 */
export async function debootstrapDefaultMirror(suite: string, arch: string): Promise<string | undefined> {
  const script = `/usr/share/debootstrap/scripts/${suite}`;
  // debootstrap cannot bootstrap a suite it has no script for: no default then.
  if (!CODENAME.test(suite) || (await readText(script)) === undefined) return undefined;
  const probe =
    'command_not_found_handle() { return 0; }; default_mirror() { printf "%s\\n" "$1" >&3; exit 0; }; ' +
    'exec 3>&1; ARCH="$1"; SUITE="$2"; DEBOOTSTRAP_DIR=/nonexistent; . "$3" >/dev/null 2>&1; exit 3';
  const out = await execFileAsync('bash', ['-c', probe, 'bash', arch, suite, script], { encoding: 'utf8' }).then(
    (r) => r.stdout.trim(),
    // exit 3: no default_mirror in the suite script: fall through
    () => '',
  );
  if (/^https?:\/\/\S+$/.test(out)) return out;
  return /^DEF_MIRROR="([^"]+)"/m.exec((await readText('/usr/sbin/debootstrap')) ?? '')?.[1];
}
