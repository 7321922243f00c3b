#!/usr/bin/env node
// Entry point of the `medtrail` CLI. The TypeScript sources are compiled to dist/ by `npm run build`
// (run automatically by `npm install` through the `prepare` script).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
if (!existsSync(main)) {
  process.stderr.write('medtrail: not built yet; run `npm run build` first (error CLI_NOT_BUILT)\n');
  process.exit(2);
}
await import(main);
