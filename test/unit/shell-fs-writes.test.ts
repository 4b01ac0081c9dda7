/**
 * The rule shell.ts states: every file-system change goes through the
 * Shell's fs helpers (so --dry-run prints and skips it), except in the
 * modules listed here, each with the reason it writes by itself. A scan of
 * src/ finds every call that changes the file system through node:fs (by the
 * names each file imports from it) and fails on a module not in the list.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ROOT } from '../helpers/cli.js';

const DIRECT_FS_WRITES: Record<string, string> = {
  'src/shell.ts': 'the Shell itself: its fs helpers (mkdir, writeFile, rename, remove, ...)',
  'src/config/repo-keys.ts': 'a throwaway gpg homedir under the temp dir to read a key file, removed at once (a read-only check that config validation runs)',
  'src/config/write-schema.ts': 'the build script that regenerates nspawnrc.schema.json (npm run, not the CLI)',
  'src/mirror/pool.ts': 'atomic pool ingest: copy to a temp name, fsync, verify, then link or rename (RELIABILITY 1)',
  'src/mirror/stage.ts': 'a file streamed into the staging dir through one descriptor (O_EXCL, fsync, size bound)',
  'src/mirror/staging-dir.ts': 'the private staging dir on the pool\'s file system (mode 0700, hard-link probe)',
  'src/mirror/import.ts': 'removes its own staged temp copies',
  'src/mirror/import-files.ts': 'removes its own staged temp copies; a dry run stages into a private temp dir it removes',
  'src/mirror/publish.ts': 'staged publication: Release written and signed outside the suite, staging dir removed',
  'src/mirror/ftparchive.ts': 'index files written into the publication being staged',
  'src/mirror/ftparchive-run.ts': 'apt-ftparchive\'s private cache database: a damaged one is moved aside',
  'src/mirror/gc.ts': 'removes directories it emptied',
  'src/mirror/keys.ts': 'the signing keyring\'s private gnupg home (mode) and the exported public key',
  'src/mirror/warm-base.ts': 'a private temp dir under the state dir for debootstrap --print-debs',
  'src/mirror/apt-move.ts': 'apt-move\'s private file cache and its moved files',
  'src/mirror/lock.ts': 'the mirror lock\'s pid file',
  'src/mirror/packages-index.ts': 'index files written into the publication being staged',
  'src/machine/create-overlay.ts': 'removes the empty mount point it made itself when a create fails',
};

const MUTATING = [
  'writeFile', 'appendFile', 'rename', 'unlink', 'rm', 'rmdir', 'mkdir', 'mkdtemp', 'copyFile', 'cp', 'symlink', 'link',
  'chmod', 'lchmod', 'chown', 'lchown', 'truncate', 'utimes', 'lutimes',
];
const MUTATING_NAMES = new Set([...MUTATING, ...MUTATING.map((n) => `${n}Sync`), 'createWriteStream', 'ftruncateSync', 'fchmodSync', 'fchownSync']);
const FS_MODULE = /^(node:)?fs(\/promises)?$/;
/** Opening for writing: a flag string or an O_ constant that writes. */
const WRITE_OPEN = /\bopen(Sync)?\([^)]*'(w|wx|w\+|wx\+|a|ax|a\+|ax\+|r\+)'|\bO_(WRONLY|RDWR|CREAT|TRUNC|APPEND)\b/;

/** Lines of a source file that change the file system through node:fs. */
function directWrites(text: string): string[] {
  const namespaces: string[] = [];
  const bare: string[] = [];
  for (const m of text.matchAll(/^import\s+(?:type\s+)?([^;]+?)\s+from\s+'([^']+)'/gm)) {
    const [, clause = '', from = ''] = m;
    if (!FS_MODULE.test(from) || clause.startsWith('type ')) continue;
    const ns = /\*\s+as\s+(\w+)/.exec(clause) ?? /^(\w+)\s*(,|$)/.exec(clause);
    if (ns?.[1]) namespaces.push(ns[1]);
    for (const spec of /\{([^}]*)\}/.exec(clause)?.[1]?.split(',') ?? []) {
      const [name = '', alias = name] = spec.trim().replace(/^type\s+/, '').split(/\s+as\s+/);
      if (name === 'promises') namespaces.push(alias);
      else if (MUTATING_NAMES.has(name)) bare.push(alias);
    }
  }
  const calls = [
    ...namespaces.map((ns) => new RegExp(`\\b${ns}\\.(${[...MUTATING_NAMES].join('|')})\\(`)),
    ...bare.map((fn) => new RegExp(`(^|[^.\\w])${fn}\\(`)),
    WRITE_OPEN,
  ];
  return text
    .split('\n')
    .filter((line) => !/^\s*(\/\/|\*|\/\*)/.test(line) && !/^import\s/.test(line))
    .filter((line) => calls.some((re) => re.test(line)));
}

test('the scan finds writes through each kind of import, and not the Shell\'s helpers', () => {
  const src = [
    "import { promises as fsp, constants } from 'node:fs';",
    "import { mkdirSync as mk, readFileSync } from 'node:fs';",
    "import * as fs from 'node:fs/promises';",
    "await fsp.rename(a, b);",
    "mk(dir);",
    "await fs.writeFile(p, t);",
    "const fh = await fsp.open(tmp, 'wx', 0o600);",
    "await sh.mkdir(dir); await sh.writeFile(p, t); readFileSync(p); await fsp.readFile(p);",
    "// await fsp.rm(x) in a comment",
  ].join('\n');
  assert.equal(directWrites(src), ['await fsp.rename(a, b);', 'mk(dir);', 'await fs.writeFile(p, t);', "const fh = await fsp.open(tmp, 'wx', 0o600);"]);
});

test('no module outside the list changes the file system behind the Shell\'s back', () => {
  const files = readdirSync(join(ROOT, 'src'), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => join(e.parentPath, e.name));
  assert.ok(files.length > 50, `found the sources (${files.length})`);
  const unlisted: string[] = [];
  for (const file of files) {
    const rel = relative(ROOT, file);
    if (rel in DIRECT_FS_WRITES) continue;
    for (const line of directWrites(readFileSync(file, 'utf8'))) unlisted.push(`${rel}: ${line.trim()}`);
  }
  assert.equal(unlisted, [], `write through the Shell (shell.ts), or add the module with its reason to DIRECT_FS_WRITES:\n${unlisted.join('\n')}`);
});

test('every module on the list exists and still writes directly (a stale entry would exempt its next write)', () => {
  const stale = Object.keys(DIRECT_FS_WRITES).filter((rel) => {
    const path = join(ROOT, rel);
    return !existsSync(path) || directWrites(readFileSync(path, 'utf8')).length === 0;
  });
  assert.equal(stale, [], 'remove these entries from DIRECT_FS_WRITES');
});

test.run();
