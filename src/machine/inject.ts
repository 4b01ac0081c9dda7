/**
 * First-boot injection: writes into a bootstrapped root everything its first
 * boot needs (apt sources and keys, hostname, accounts, the run-once script
 * and what starts it). All writes go through the Shell (dry-run safe); every
 * path is resolved inside the root as the container would see it, so a
 * symlink in the root (e.g. /etc/hostname -> /host/file, or /etc/apt ->
 * /etc/apt of the host) never makes us read or write outside it.
 */
import { promises as fsp } from 'node:fs';
import { posix } from 'node:path';
import type { Config, Recipe } from '../config/types.js';
import { OperationError } from '../errors.js';
import type { Shell } from '../shell.js';
import { mirrorLayout } from '../mirror/layout.js';
import { FIRSTBOOT } from './paths.js';
import { openResolvedFile } from './record.js';
import { FIRSTBOOT_WANTS_LINK, renderFirstBootScript, renderFirstBootUnit, renderRcLocal } from './firstboot.js';
import { renderHostname, renderHosts } from './render.js';
import { DISTRO_KEYRINGS, KEYRINGS_DIR, loadRepositoryKeys, pickUpstreamKeyring, planSources, type MirrorAccess } from './sources.js';
import { planUsers, renderAuthorizedKeys, type AccountFiles, type PlannedHome } from './users.js';

const MAX_SYMLINK_HOPS = 40;

/**
 * Host path of `inner` (an absolute path inside the container) with symlinks
 * resolved as inside a chroot: absolute targets restart at the root, ".."
 * stops at the root. With followFinal false a symlink in the last component
 * is returned as is (writers replace it by rename, they never write through it);
 * directories we write into are resolved with followFinal true.
 */
export async function resolveInRoot(root: string, inner: string, followFinal = true): Promise<string> {
  const realRoot = await fsp.realpath(root);
  const done: string[] = [];
  let todo = inner.split('/').filter((p) => p !== '' && p !== '.');
  let hops = 0;
  while (todo.length > 0) {
    const [part, ...rest] = todo as [string, ...string[]];
    todo = rest;
    if (part === '..') {
      done.pop();
      continue;
    }
    const candidate = posix.join(realRoot, ...done, part);
    const st = await fsp.lstat(candidate).catch(() => undefined);
    if (st?.isSymbolicLink() && (todo.length > 0 || followFinal)) {
      if (++hops > MAX_SYMLINK_HOPS) {
        throw new OperationError(`too many levels of symbolic links resolving ${inner} in ${root}`, 'Fix the symlinks in the root filesystem.');
      }
      const target = await fsp.readlink(candidate);
      if (target.startsWith('/')) done.length = 0;
      todo = [...target.split('/').filter((p) => p !== '' && p !== '.'), ...todo];
      continue;
    }
    done.push(part);
  }
  return posix.join(realRoot, ...done);
}

/** System files read at injection (passwd, os-release, rc.local) are far smaller than this. */
export const ROOT_FILE_MAX_BYTES = 4 * 1024 * 1024;

/**
 * Reads a file of the root (symlinks resolved inside it); undefined when
 * absent. The resolved file is opened without following a link and without
 * blocking, must be a regular file and at most maxBytes (record.ts);
 * anything else is an OperationError naming the path.
 */
export async function readInRoot(root: string, inner: string, maxBytes = ROOT_FILE_MAX_BYTES): Promise<Buffer | undefined> {
  const path = await resolveInRoot(root, inner);
  const read = await openResolvedFile(path, { maxBytes, noun: 'a file read from a root' });
  if (read.ok) return read.value;
  if (read.absent) return undefined;
  throw new OperationError(read.reason, `${inner} of ${root} was changed by something other than nspawn-kit; fix or recreate the machine.`);
}

/** Whether something is at `inner` (symlinks resolved inside the root); never opens it. */
export async function existsInRoot(root: string, inner: string): Promise<boolean> {
  const path = await resolveInRoot(root, inner);
  return fsp.lstat(path).then(
    () => true,
    () => false,
  );
}

/** Atomic write of a file of the root; returns the host path written. */
export async function writeInRoot(sh: Shell, root: string, inner: string, data: string | Buffer, mode = 0o644): Promise<string> {
  const path = await resolveInRoot(root, inner, false);
  await sh.mkdir(posix.dirname(path));
  await sh.writeFile(path, data, mode);
  return path;
}

export interface InjectOptions {
  mirrorAccess: MirrorAccess;
  /** Default: recipe.hostname. */
  hostname?: string;
  /** Clock for shadow's "last change" field (tests). */
  now?: Date;
}

export interface InjectReport {
  /** Paths inside the root that were written (or planned, in dry-run). */
  written: string[];
  /** Paths inside the root that were removed. */
  removed: string[];
  mechanism: Recipe['firstboot'];
  /** Keyring trusted for the upstream, undefined when it was written disabled. */
  upstreamKeyring: string | undefined;
  /** Groups that did not exist in the root and were created as system groups. */
  createdGroups: string[];
  warnings: string[];
}

async function readText(root: string, inner: string): Promise<string | undefined> {
  return (await readInRoot(root, inner))?.toString('utf8');
}

async function osReleaseId(root: string): Promise<string | undefined> {
  const text = (await readText(root, '/etc/os-release')) ?? (await readText(root, '/usr/lib/os-release'));
  const id = text?.match(/^ID=["']?([^"'\n]+)/m)?.[1];
  return id;
}

async function accountFiles(root: string): Promise<AccountFiles> {
  const need = async (inner: string): Promise<string> => {
    const text = await readText(root, inner);
    if (text === undefined) {
      throw new OperationError(`${inner} is missing in ${root}`, 'The root filesystem is not a bootstrapped Debian system; recreate it.');
    }
    return text;
  };
  return {
    passwd: await need('/etc/passwd'),
    shadow: await need('/etc/shadow'),
    group: await need('/etc/group'),
    gshadow: await readText(root, '/etc/gshadow'),
  };
}

/** Home, ~/.ssh and authorized_keys, owned by the user; /etc/skel copied into a new home. */
async function writeHome(sh: Shell, root: string, home: PlannedHome): Promise<string[]> {
  const written: string[] = [];
  const owned: string[] = [];
  const homePath = await resolveInRoot(root, home.home);
  const fresh = !(await existsInRoot(root, home.home));
  await sh.mkdir(homePath, 0o700);
  owned.push(homePath);
  if (fresh) {
    const skel = await resolveInRoot(root, '/etc/skel');
    const entries = await fsp.readdir(skel, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      if (!entry.isFile()) continue; // never follow a symlink out of the root
      const st = await fsp.lstat(posix.join(skel, entry.name));
      const read = await openResolvedFile(posix.join(skel, entry.name), { maxBytes: ROOT_FILE_MAX_BYTES, noun: 'a file read from a root' });
      if (!read.ok) throw new OperationError(read.reason, 'Fix /etc/skel in the root filesystem, or recreate it.');
      const inner = posix.join(home.home, entry.name);
      owned.push(await writeInRoot(sh, root, inner, read.value, st.mode & 0o777));
      written.push(inner);
    }
  }
  if (home.sshKeys.length > 0) {
    const sshDir = posix.join(home.home, '.ssh');
    const sshPath = await resolveInRoot(root, sshDir);
    await sh.mkdir(sshPath, 0o700);
    const keysInner = posix.join(sshDir, 'authorized_keys');
    owned.push(sshPath, await writeInRoot(sh, root, keysInner, renderAuthorizedKeys(home.sshKeys), 0o600));
    written.push(keysInner);
  }
  // -h: change the entry itself, never a symlink's target.
  await sh.write(['chown', ['-h', '--', `${home.uid}:${home.gid}`, ...owned]]);
  return [home.home, ...written];
}

/**
 * Writes sources and keys, hostname, accounts and the first-boot mechanism
 * into `root`. Idempotent: running it again on the same root rewrites the
 * same files.
 */
export async function injectFirstBoot(
  ctx: { sh: Shell; config: Config },
  root: string,
  recipe: Recipe,
  machine: string,
  opts: InjectOptions,
): Promise<InjectReport> {
  const { sh, config } = ctx;
  const written: string[] = [];
  const removed: string[] = [];
  const put = async (inner: string, data: string | Buffer, mode = 0o644): Promise<void> => {
    await writeInRoot(sh, root, inner, data, mode);
    written.push(inner);
  };

  // Plan everything first: a bad key or a uid clash fails before anything is written.
  const mirrorKeyPath = mirrorLayout(config).publicKeyAsc;
  const mirrorKey = await fsp.readFile(mirrorKeyPath).catch(() => {
    throw new OperationError(`the mirror's public key ${mirrorKeyPath} is missing`, 'Publish the mirror first: `nspawn-kit mirror publish`.');
  });
  const present: string[] = [];
  for (const keyring of Object.values(DISTRO_KEYRINGS)) if (await existsInRoot(root, keyring)) present.push(keyring);
  const upstreamKeyring = pickUpstreamKeyring(await osReleaseId(root), present);
  const sources = planSources({
    recipe,
    mirrorAccess: opts.mirrorAccess,
    mirrorKey,
    repositoryKeys: await loadRepositoryKeys(recipe),
    upstreamKeyring,
  });
  const users = planUsers(await accountFiles(root), recipe.users, opts.now ?? new Date());
  const hostname = opts.hostname ?? recipe.hostname;
  const warnings = [...sources.warnings];
  for (const user of recipe.users) {
    if (!(await existsInRoot(root, user.shell))) warnings.push(`shell ${user.shell} of user ${user.name} is not installed in the root`);
  }

  // 1. apt: mirror key, .sources files, repository keys; the bootstrap's sources.list goes.
  await sh.mkdir(await resolveInRoot(root, KEYRINGS_DIR), 0o755);
  for (const file of sources.files) await put(file.path, file.content, file.mode);
  for (const inner of sources.remove) {
    const path = await resolveInRoot(root, inner, false);
    if ((await fsp.lstat(path).catch(() => undefined)) === undefined) continue;
    await sh.remove(path);
    removed.push(inner);
  }

  // 2. hostname.
  await put('/etc/hostname', renderHostname(hostname));
  await put('/etc/hosts', renderHosts(hostname));

  // 3. accounts.
  await put('/etc/passwd', users.files.passwd, 0o644);
  await put('/etc/group', users.files.group, 0o644);
  await put('/etc/shadow', users.files.shadow, 0o640);
  if (users.files.gshadow !== undefined) await put('/etc/gshadow', users.files.gshadow, 0o640);
  // shadow and gshadow belong to group shadow (gid 42 on Debian) for unix_chkpwd.
  const shadowGid = users.files.group.match(/^shadow:[^:]*:(\d+):/m)?.[1];
  if (shadowGid) {
    const paths = [await resolveInRoot(root, '/etc/shadow', false)];
    if (users.files.gshadow !== undefined) paths.push(await resolveInRoot(root, '/etc/gshadow', false));
    await sh.write(['chown', ['-h', '--', `0:${shadowGid}`, ...paths]]);
  }
  for (const home of users.homes) written.push(...(await writeHome(sh, root, home)));

  // 4. the run-once script and its mechanism.
  await put(FIRSTBOOT.script, renderFirstBootScript({ machine, recipe, linkResolvConf: recipe.nspawn.network !== 'host' }), 0o755);
  if (recipe.firstboot === 'systemd') {
    await put(FIRSTBOOT.unit, renderFirstBootUnit());
    const link = await resolveInRoot(root, FIRSTBOOT_WANTS_LINK, false);
    await sh.mkdir(posix.dirname(link), 0o755);
    await sh.symlink(FIRSTBOOT.unit, link);
    written.push(FIRSTBOOT_WANTS_LINK);
  } else {
    await put(FIRSTBOOT.rcLocal, renderRcLocal(await readText(root, FIRSTBOOT.rcLocal)), 0o755);
  }

  return { written, removed, mechanism: recipe.firstboot, upstreamKeyring, createdGroups: users.createdGroups, warnings };
}
