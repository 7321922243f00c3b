// Bundles the browser code (web/client) into dist/web/assets with content-hashed names, a manifest the server
// reads, and a gzip copy of each file (precompressed once here, so the server never compresses on a request).
// Platform browser: a core/*-node.ts or node:* import anywhere in the graph fails the build, as it should.
//
//   node web/build.mjs            (or import { buildWeb } from './web/build.mjs')
import { build } from 'esbuild';
import { mkdirSync, renameSync, writeFileSync, existsSync, readdirSync, rmSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync, constants } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const DEFAULT_OUT = join(root, 'dist/web/assets');

const ENTRIES = { patient: 'web/client/patient.ts', console: 'web/client/console.ts', rx: 'web/client/rx.ts', style: 'web/client/style.css' };

// Atomic: concurrent builds (two test files at once) write identical content-hashed files; readers never see
// half a file.
function writeAtomic(path, data) {
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

export async function buildWeb(outDir = DEFAULT_OUT) {
  const entryPoints = Object.fromEntries(Object.entries(ENTRIES).filter(([, p]) => existsSync(join(root, p))).map(([k, p]) => [k, join(root, p)]));
  const result = await build({
    entryPoints,
    absWorkingDir: root,
    bundle: true,
    minify: true,
    format: 'esm',
    splitting: true,
    platform: 'browser',
    target: 'es2020',
    outdir: outDir,
    entryNames: '[name]-[hash]',
    chunkNames: 'chunk-[hash]',
    metafile: true,
    write: false,
    legalComments: 'none',
    logLevel: 'warning',
  });
  mkdirSync(outDir, { recursive: true });
  const manifest = {};
  for (const f of result.outputFiles) {
    writeAtomic(f.path, f.contents);
    writeAtomic(`${f.path}.gz`, gzipSync(f.contents, { level: constants.Z_BEST_COMPRESSION }));
  }
  for (const [out, meta] of Object.entries(result.metafile.outputs)) {
    if (meta.entryPoint === undefined) continue;
    const name = Object.entries(entryPoints).find(([, p]) => relative(root, p) === meta.entryPoint)?.[0];
    // What the page should preload beside the entry (no extra round trip): its static imports, and the modules
    // it imports dynamically at once (patient.ts -> patient-main) with their own static imports, transitively.
    // Deeper dynamic imports (jsQR, only when the camera is used) are left to load on demand.
    const preload = new Set();
    const addStatic = (path) => {
      for (const i of result.metafile.outputs[path]?.imports ?? []) {
        if (i.kind === 'import-statement' && !preload.has(basename(i.path))) {
          preload.add(basename(i.path));
          addStatic(i.path);
        }
      }
    };
    addStatic(out);
    for (const i of meta.imports) {
      if (i.kind === 'dynamic-import') {
        preload.add(basename(i.path));
        addStatic(i.path);
      }
    }
    if (name !== undefined) manifest[name] = { file: basename(out), preload: [...preload] };
  }
  writeAtomic(join(outDir, 'manifest.json'), JSON.stringify(manifest, null, 2));
  return { outDir, manifest, files: readdirSync(outDir).length };
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  // From the command line the folder starts empty, so stale hashed files do not pile up. (Tests call buildWeb()
  // without this: another test's running server may still be serving the files.)
  const out = process.argv[2] ?? DEFAULT_OUT;
  rmSync(out, { recursive: true, force: true });
  const r = await buildWeb(out);
  process.stdout.write(`web assets: ${JSON.stringify(r.manifest)}\n`);
}
