/**
 * The layers of src/ (src/README.md): a module imports only from its own
 * layer or the layers below it. The scan reads every relative import and
 * re-export of every src/**.ts (type-only ones too: a type is a dependency of
 * the design even when it is erased), and src/README.md must list every
 * module. A file directly in src/ is in the bottom layer unless it is an
 * entry point (cli.ts, program.ts, and man.ts with deb-assets.ts, which render
 * the man page and the packaged unit from the program).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { ROOT } from '../helpers/cli.js';

/** Top first. A module's layer is its directory under src/, or, for a file at src/ itself, its name. */
const ORDER: ReadonlyArray<readonly string[]> = [
  ['cli', 'program', 'man', 'deb-assets'],
  ['commands'],
  ['tasks'],
  ['machine', 'triggers'],
  ['rootfs'],
  ['mirror'],
  ['config', 'host', '(any other file directly in src/)'],
];
const BOTTOM = ORDER.length - 1;

function rankOf(module: string): number | undefined {
  const parts = module.split('/');
  const first = parts[0] ?? '';
  const layer = parts.length > 1 ? first : first.replace(/\.ts$/, '');
  const rank = ORDER.findIndex((names) => names.includes(layer));
  if (rank >= 0) return rank;
  return parts.length === 1 ? BOTTOM : undefined;
}

/** Relative module specifiers of `import … from`, `export … from` and `import(…)` in a source text. */
export function importsOf(source: string): string[] {
  const found: string[] = [];
  for (const m of source.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?\sfrom\s+['"](\.[^'"]+)['"]/g)) found.push(m[1] ?? '');
  for (const m of source.matchAll(/(?:^|\n)\s*import\s+['"](\.[^'"]+)['"]/g)) found.push(m[1] ?? '');
  for (const m of source.matchAll(/\bimport\(\s*['"](\.[^'"]+)['"]\s*\)/g)) found.push(m[1] ?? '');
  return found;
}

/** Upward edges "from -> to" among modules given as path (relative to src) -> source text. */
export function upwardImports(modules: Map<string, string>): string[] {
  const problems: string[] = [];
  for (const [file, text] of modules) {
    const from = rankOf(file);
    if (from === undefined) {
      problems.push(`${file}: not in any layer (add its directory to the layer list in src/README.md and this test)`);
      continue;
    }
    for (const spec of importsOf(text)) {
      const target = normalize(join(dirname(file), spec)).replace(/\.js$/, '.ts');
      const to = rankOf(target);
      if (to === undefined) problems.push(`${file} imports ${spec}: outside every layer`);
      else if (to < from) problems.push(`${file} -> ${target}: upward (${ORDER[from]?.join('/')} may not import ${ORDER[to]?.join('/')})`);
    }
  }
  return problems;
}

function sources(): Map<string, string> {
  const src = join(ROOT, 'src');
  const out = new Map<string, string>();
  for (const entry of readdirSync(src, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
    const path = join(entry.parentPath ?? (entry as unknown as { path: string }).path, entry.name);
    out.set(relative(src, path), readFileSync(path, 'utf8'));
  }
  return out;
}

test('the scan sees every import form, and an upward one is reported', () => {
  const text = [
    "import { a } from '../commands/mirror.js';",
    "import type { B } from './b.js';",
    "export { c } from '../rootfs/overlay.js';",
    "import '../tasks/side-effect.js';",
    "const d = await import('../program.js');",
    "import { readFile } from 'node:fs';",
  ].join('\n');
  assert.equal(importsOf(text), ['../commands/mirror.js', './b.js', '../rootfs/overlay.js', '../tasks/side-effect.js', '../program.js']);
  assert.equal(upwardImports(new Map([['mirror/x.ts', text]])), [
    'mirror/x.ts -> commands/mirror.ts: upward (mirror may not import commands)',
    'mirror/x.ts -> rootfs/overlay.ts: upward (mirror may not import rootfs)',
    'mirror/x.ts -> tasks/side-effect.ts: upward (mirror may not import tasks)',
    'mirror/x.ts -> program.ts: upward (mirror may not import cli/program/man/deb-assets)',
  ]);
  assert.equal(upwardImports(new Map([['newdir/y.ts', '']])), ['newdir/y.ts: not in any layer (add its directory to the layer list in src/README.md and this test)']);
  // Down and sideways are fine; machine and triggers share a layer.
  assert.equal(upwardImports(new Map([['triggers/w.ts', "import { r } from '../machine/record.js';\nimport { s } from '../shell.js';"]])), []);
  assert.equal(upwardImports(new Map([['machine/r.ts', "import { w } from '../triggers/w.js';"]])), []);
});

test('no module of src/ imports from a layer above its own', () => {
  const problems = upwardImports(sources());
  assert.equal(problems, [], `\n${problems.join('\n')}`);
});

test('src/README.md lists every module of src/, and only those', () => {
  const readme = readFileSync(join(ROOT, 'src', 'README.md'), 'utf8');
  const listed = new Set([...readme.matchAll(/^- `([\w./-]+\.ts)`/gm)].map((m) => m[1] ?? ''));
  const actual = new Set(sources().keys());
  assert.equal([...actual].filter((f) => !listed.has(f)).sort(), [], 'modules missing from src/README.md');
  assert.equal([...listed].filter((f) => !actual.has(f)).sort(), [], 'src/README.md lists modules that do not exist');
});

test.run();
