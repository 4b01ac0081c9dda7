/**
 * The mirror's signing key: ed25519, generated on first use in a private
 * GNUPGHOME (<stateDir>/gnupg, mode 0700), no passphrase (the nightly job
 * signs unattended; the key's protection is the directory's mode).
 * Published as <root>/mirror.asc (armored, for apt's Signed-By) and
 * <root>/mirror.gpg (binary, because debootstrap --keyring reads no armor).
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { exists } from '../shell.js';
import { OperationError } from '../errors.js';
import { progress, type MirrorContext } from './context.js';
import { mirrorLayout } from './layout.js';

/** Placeholder fingerprint returned by a dry run that would create the key. */
export const DRY_RUN_FINGERPRINT = '(new key, created on first real publish)';

/** gpg options every call shares: own homedir, never a prompt, empty passphrase. */
function gpgBase(gnupgHome: string): string[] {
  return ['--homedir', gnupgHome, '--batch', '--no-tty', '--pinentry-mode', 'loopback', '--passphrase', ''];
}

/**
 * The fingerprint of the signing key, or undefined when none exists yet. Changes nothing:
 * it lists the public keys without starting a gpg-agent (--no-autostart; listing secret
 * keys would start one, whose sockets appear in the homedir even in a dry run; --lock-never:
 * no lock file either) and takes
 * the first primary key whose secret part is in private-keys-v1.d.
 */
export async function signingKeyFingerprint(ctx: MirrorContext): Promise<string | undefined> {
  return (await lookupSigningKey(ctx))?.fingerprint;
}

/**
 * What the last real publish found, so the next one spawns no gpg just to learn it:
 * <stateDir>/mirror/signing-key.json, trusted only while pubring.kbx and
 * mirror.gpg are the very files (size, mtime, inode) it was made from. Not
 * under cache/: removing the index caches (packages*.db) need not cost two
 * gpg runs on the next publish.
 */
interface KeyRecord {
  fingerprint: string;
  keygrip: string;
  pubring: string;
  keyring: string;
}

function keyRecordPath(ctx: MirrorContext): string {
  return join(mirrorLayout(ctx.config).state, 'signing-key.json');
}

async function fileSig(path: string): Promise<string> {
  const st = await fsp.stat(path).catch(() => undefined);
  return st ? `${st.size}:${st.mtimeMs}:${st.ino}` : '';
}

async function readKeyRecord(ctx: MirrorContext): Promise<KeyRecord | undefined> {
  try {
    const r = JSON.parse(await fsp.readFile(keyRecordPath(ctx), 'utf8')) as Partial<KeyRecord>;
    return typeof r.fingerprint === 'string' && typeof r.keygrip === 'string' && typeof r.pubring === 'string' && typeof r.keyring === 'string'
      ? (r as KeyRecord)
      : undefined;
  } catch {
    return undefined;
  }
}

async function lookupSigningKey(ctx: MirrorContext): Promise<{ fingerprint: string; keygrip: string } | undefined> {
  const home = mirrorLayout(ctx.config).gnupgHome;
  // gpg would create a missing homedir: look before asking it.
  if (!(await exists(home))) return undefined;
  const rec = await readKeyRecord(ctx);
  if (rec && rec.pubring && rec.pubring === (await fileSig(join(home, 'pubring.kbx'))) && (await exists(join(home, 'private-keys-v1.d', `${rec.keygrip}.key`)))) {
    return { fingerprint: rec.fingerprint, keygrip: rec.keygrip };
  }
  const res = await ctx.sh.read(
    ['gpg', ['--homedir', home, '--batch', '--no-tty', '--no-autostart', '--lock-never', '--no-auto-check-trustdb', '--with-colons', '--with-keygrip', '--list-keys']],
    { nothrow: true },
  );
  if (res.exitCode !== 0) return undefined;
  for (const key of primaryKeys(res.stdout)) {
    if (await exists(join(home, 'private-keys-v1.d', `${key.keygrip}.key`))) return key;
  }
  return undefined;
}

/** Primary keys (fingerprint, keygrip) of `gpg --with-colons --with-keygrip --list-keys` output. */
export function primaryKeys(colons: string): { fingerprint: string; keygrip: string }[] {
  const keys: { fingerprint: string; keygrip: string }[] = [];
  let current: { fingerprint: string; keygrip: string } | undefined;
  let inPrimary = false;
  for (const line of colons.split('\n')) {
    const f = line.split(':');
    if (f[0] === 'pub') {
      inPrimary = true;
      current = { fingerprint: '', keygrip: '' };
      keys.push(current);
    } else if (f[0] === 'sub') inPrimary = false;
    else if (inPrimary && current && f[0] === 'fpr' && f[9] && !current.fingerprint) current.fingerprint = f[9];
    else if (inPrimary && current && f[0] === 'grp' && f[9] && !current.keygrip) current.keygrip = f[9];
  }
  return keys.filter((k) => /^[0-9A-F]{40}$/.test(k.fingerprint) && /^[0-9A-F]{40}$/.test(k.keygrip));
}

/**
 * Returns the signing key's fingerprint, generating the key on first use,
 * and makes sure mirror.asc and mirror.gpg exist. Idempotent.
 */
export async function ensureSigningKey(ctx: MirrorContext): Promise<string> {
  const { sh, config } = ctx;
  const layout = mirrorLayout(config);
  let found = await lookupSigningKey(ctx);
  let fpr = found?.fingerprint;
  let created = false;
  if (!fpr) {
    await sh.mkdir(layout.gnupgHome, 0o700);
    progress(ctx, `generating the mirror signing key (ed25519) in ${layout.gnupgHome}`);
    const uid = `${config.mirror.origin.replace(/[\r\n<>]/g, ' ')} mirror signing key`;
    const res = await sh.write(['gpg', [...gpgBase(layout.gnupgHome), '--quick-gen-key', uid, 'ed25519', 'sign', 'never']], {
      hint: `Check that ${layout.gnupgHome} is writable and that gpg (gnupg) is installed.`,
    });
    if (res.skipped) return DRY_RUN_FINGERPRINT;
    found = await lookupSigningKey(ctx);
    fpr = found?.fingerprint;
    if (!fpr) {
      throw new OperationError(`gpg generated no secret key in ${layout.gnupgHome}`, 'Remove that directory and run again.');
    }
    created = true;
  } else if (!sh.dryRun) {
    // gpg warns about unsafe homedir permissions; keep them tight even if someone changed them.
    const st = await fsp.stat(layout.gnupgHome);
    if ((st.mode & 0o077) !== 0) await fsp.chmod(layout.gnupgHome, 0o700);
  }
  // Re-export when the published key is missing or is not the signing key (e.g. two
  // first runs raced, or someone restored an old mirror.gpg): apt would say NO_PUBKEY.
  const rec = await readKeyRecord(ctx);
  const keyringKnown = rec?.fingerprint === fpr && rec.keyring !== '' && rec.keyring === (await fileSig(layout.publicKeyring));
  if (created || !(await exists(layout.publicKeyAsc)) || (!keyringKnown && (await exportedFingerprint(ctx, layout.publicKeyring)) !== fpr)) {
    await exportPublicKey(ctx, fpr);
  }
  if (!sh.dryRun && found) {
    const next: KeyRecord = {
      fingerprint: fpr,
      keygrip: found.keygrip,
      pubring: await fileSig(join(layout.gnupgHome, 'pubring.kbx')),
      keyring: await fileSig(layout.publicKeyring),
    };
    if (JSON.stringify(next) !== JSON.stringify(rec)) await sh.writeFile(keyRecordPath(ctx), `${JSON.stringify(next)}\n`);
  }
  return fpr;
}

/** Fingerprint of the (first) key in a published keyring file, undefined if absent or unreadable. */
export async function exportedFingerprint(ctx: MirrorContext, keyring: string): Promise<string | undefined> {
  const home = mirrorLayout(ctx.config).gnupgHome;
  if (!(await exists(keyring)) || !(await exists(home))) return undefined;
  const res = await ctx.sh.read(['gpg', ['--homedir', home, '--batch', '--no-tty', '--no-autostart', '--lock-never', '--with-colons', '--show-keys', '--', keyring]], { nothrow: true });
  if (res.exitCode !== 0) return undefined;
  return /^fpr:(?:[^:]*:){8}([0-9A-F]{40}):/m.exec(res.stdout)?.[1];
}

/** Writes mirror.asc and mirror.gpg: gpg writes a temp file, which is renamed into place. */
async function exportPublicKey(ctx: MirrorContext, fpr: string): Promise<void> {
  const { sh } = ctx;
  const layout = mirrorLayout(ctx.config);
  await sh.mkdir(layout.root);
  for (const [target, armor] of [
    [layout.publicKeyAsc, true],
    [layout.publicKeyring, false],
  ] as const) {
    const tmp = `${target}.${process.pid}.tmp`;
    const args = [...gpgBase(layout.gnupgHome), '--yes', ...(armor ? ['--armor'] : []), '--output', tmp, '--export', fpr];
    await sh.write(['gpg', args]);
    if (!sh.dryRun) {
      const st = await fsp.stat(tmp);
      if (st.size === 0) throw new OperationError(`gpg exported an empty public key for ${fpr}`, `Check the key in ${layout.gnupgHome}.`);
      await fsp.chmod(tmp, 0o644);
    }
    await sh.rename(tmp, target);
  }
}

/**
 * Signs a Release file: InRelease (clearsigned) and Release.gpg (detached,
 * armored), both with SHA512, written to the given paths (outside the suite
 * directory; the publisher moves them into place). The two signatures are
 * made concurrently.
 */
export async function signRelease(
  ctx: MirrorContext,
  fpr: string,
  release: string,
  out: { inRelease: string; releaseGpg: string },
): Promise<void> {
  const base = [...gpgBase(mirrorLayout(ctx.config).gnupgHome), '--yes', '--local-user', fpr, '--digest-algo', 'SHA512'];
  const hint = 'Check the signing key with `gpg --homedir <stateDir>/gnupg --list-secret-keys`.';
  // Two gpg processes at once (one gpg-agent serves both); both have ended before a failure is thrown.
  const [clear, detached] = await Promise.allSettled([
    ctx.sh.write(['gpg', [...base, '--clearsign', '--output', out.inRelease, '--', release]], { hint }),
    ctx.sh.write(['gpg', [...base, '--armor', '--detach-sign', '--output', out.releaseGpg, '--', release]], { hint }),
  ]);
  if (clear.status === 'rejected') throw clear.reason;
  if (detached.status === 'rejected') throw detached.reason;
}

/** Stops the gpg-agent of the mirror's GNUPGHOME (tests, and callers that want no lingering process). */
export async function stopGpgAgent(ctx: MirrorContext): Promise<void> {
  const home = mirrorLayout(ctx.config).gnupgHome;
  if (await exists(home)) await ctx.sh.read(['gpgconf', ['--homedir', home, '--kill', 'all']], { nothrow: true });
}
