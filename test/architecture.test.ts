// The import floors of docs/architecture.md, held by a test: core <- {server, client} <- {reader, web} <- cli,
// no import that runs back up a floor or across to a sibling, and no import loop between files. Read from the
// sources as text (every `from '...'` and `import('...')` with a relative path), so a new file is held to it at once.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './support/tmp.js';

const FOLDERS = ['core', 'client', 'server', 'reader', 'web', 'cli'] as const;
type Folder = (typeof FOLDERS)[number];

/** What each top-level folder may import besides itself. */
const MAY_IMPORT: Record<Folder, readonly Folder[]> = {
  core: [],
  client: ['core'],
  server: ['core'],
  reader: ['core', 'client'],
  web: ['core', 'client'],
  cli: ['core', 'client', 'server', 'reader'],
};

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (/\.(ts|mjs)$/.test(name) && !name.endsWith('.d.ts') && !name.endsWith('.d.mts')) out.push(p);
  }
  return out;
}

/** Relative imports of one file, resolved to repository paths of .ts files. */
function importsOf(file: string): string[] {
  // Comment lines are left out (a comment may show how a file is imported).
  const text = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => !/^\s*(\/\/|\*)/.test(l))
    .join('\n');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:from\s+|import\(\s*|import\s+)'(\.{1,2}\/[^']+)'/g)) {
    const target = resolve(dirname(file), m[1]!).replace(/\.js$/, '.ts');
    out.push(relative(REPO_ROOT, target));
  }
  return out;
}

const files = FOLDERS.flatMap((f) => sources(join(REPO_ROOT, f))).map((p) => relative(REPO_ROOT, p));
const graph = new Map(files.map((f) => [f, importsOf(join(REPO_ROOT, f))]));
const folderOf = (path: string): string => path.split('/')[0]!;

describe('import floors (docs/architecture.md)', () => {
  it('reads the whole tree', () => {
    expect(files.length).toBeGreaterThan(100);
    for (const f of FOLDERS) expect(files.some((p) => folderOf(p) === f)).toBe(true);
  });

  it('no import runs back up a floor or across to a sibling folder', () => {
    const wrong: string[] = [];
    for (const [from, targets] of graph) {
      const a = folderOf(from) as Folder;
      for (const t of targets) {
        const b = folderOf(t);
        if (b !== a && !MAY_IMPORT[a].includes(b as Folder)) wrong.push(`${from} -> ${t}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('no import loop between files', () => {
    // Tarjan's strongly connected components: any component of more than one file is a loop.
    let next = 0;
    const index = new Map<string, number>();
    const low = new Map<string, number>();
    const stack: string[] = [];
    const onStack = new Set<string>();
    const loops: string[][] = [];
    const visit = (v: string): void => {
      index.set(v, next);
      low.set(v, next);
      next++;
      stack.push(v);
      onStack.add(v);
      for (const w of graph.get(v) ?? []) {
        if (!graph.has(w)) continue;
        if (!index.has(w)) {
          visit(w);
          low.set(v, Math.min(low.get(v)!, low.get(w)!));
        } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
      if (low.get(v) === index.get(v)) {
        const comp: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          comp.push(w);
        } while (w !== v);
        if (comp.length > 1) loops.push(comp.sort());
      }
    };
    for (const f of graph.keys()) if (!index.has(f)) visit(f);
    expect(loops).toEqual([]);
  });

  it('every relative import names a file that exists', () => {
    const missing: string[] = [];
    for (const [from, targets] of graph) {
      for (const t of targets) {
        try {
          statSync(join(REPO_ROOT, t));
        } catch {
          missing.push(`${from} -> ${t}`);
        }
      }
    }
    expect(missing).toEqual([]);
  });
});

describe('type assertions outside tests', () => {
  // Answers from the wire are parsed (core/api/answers.ts), bodies validated, and values narrowed by checks:
  // an `as` is a claim the compiler cannot hold anyone to. The few left are where a library's typings or a
  // generic signature leave no other way; this ceiling keeps new ones from creeping back.
  const CEILING = 45;
  it(`stay at most ${CEILING} (as const does not count)`, () => {
    const found: string[] = [];
    for (const f of files.filter((p) => p.endsWith('.ts'))) {
      const sf = ts.createSourceFile(f, readFileSync(join(REPO_ROOT, f), 'utf8'), ts.ScriptTarget.Latest, true);
      const visit = (n: ts.Node): void => {
        if ((ts.isAsExpression(n) || ts.isTypeAssertionExpression(n)) && !(ts.isTypeReferenceNode(n.type) && n.type.typeName.getText(sf) === 'const')) {
          found.push(`${f}:${sf.getLineAndCharacterOfPosition(n.getStart()).line + 1}`);
        }
        ts.forEachChild(n, visit);
      };
      visit(sf);
    }
    expect(found.length, found.join('\n')).toBeLessThanOrEqual(CEILING);
  });
});
