// The bundled browser code (web/build.mjs writes dist/web/assets): content-hashed files served with a year's
// cache, gzip copies made at build time. The manifest is read lazily, so a server whose assets were never
// built still starts and answers its API; only the pages say what is missing.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Router } from 'express';
import { MedtrailError } from '../../core/errors.js';

export interface Manifest {
  [entry: string]: { file: string; preload: string[] };
}

/** The repository root: the nearest folder above this file with a package.json (works from web/ and dist/web/). */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new MedtrailError('INTERNAL', 'cannot find the repository root');
    dir = up;
  }
  return dir;
}

export function defaultAssetsDir(): string {
  return join(repoRoot(), 'dist/web/assets');
}

const TYPES: Record<string, string> = {
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  json: 'application/json',
};

interface Asset {
  body: Buffer;
  gz: Buffer | undefined;
  type: string;
}

export class Assets {
  private manifest: Manifest | undefined;
  private readonly cache = new Map<string, Asset>();

  constructor(readonly dir: string) {}

  /** The manifest; WEB_NOT_BUILT when `node web/build.mjs` has not been run. */
  entries(): Manifest {
    if (this.manifest === undefined) {
      const path = join(this.dir, 'manifest.json');
      if (!existsSync(path)) throw new MedtrailError('WEB_NOT_BUILT', `no ${path}: run node web/build.mjs`);
      this.manifest = JSON.parse(readFileSync(path, 'utf8')) as Manifest;
    }
    return this.manifest;
  }

  entry(name: string): { file: string; preload: string[] } {
    const e = this.entries()[name];
    if (e === undefined) throw new MedtrailError('WEB_NOT_BUILT', `the web build has no ${name} entry`);
    return e;
  }

  private load(file: string): Asset | undefined {
    const hit = this.cache.get(file);
    if (hit !== undefined) return hit;
    // Only names the build wrote: no path separators, no dot files, present in the folder listing.
    if (!/^[A-Za-z0-9_-]+\.(js|css)$/.test(file) || !readdirSync(this.dir).includes(file)) return undefined;
    const body = readFileSync(join(this.dir, file));
    const gzPath = join(this.dir, `${file}.gz`);
    const asset: Asset = { body, gz: existsSync(gzPath) ? readFileSync(gzPath) : undefined, type: TYPES[file.split('.').pop()!]! };
    this.cache.set(file, asset);
    return asset;
  }

  router(): Router {
    const r = Router();
    r.get('/assets/:file', (req, res, next) => {
      if (!existsSync(this.dir)) return next();
      const a = this.load(req.params.file);
      if (a === undefined) return next();
      res.setHeader('Content-Type', a.type);
      res.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
      res.setHeader('Vary', 'Accept-Encoding');
      const gzip = a.gz !== undefined && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
      if (gzip) res.setHeader('Content-Encoding', 'gzip');
      res.end(gzip ? a.gz : a.body);
    });
    return r;
  }
}
