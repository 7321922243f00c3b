// Temporary folders for tests: each test gets its own real SQLite file, removed afterwards.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function tempDir(prefix = 'medtrail-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

// From dist/test/support (benchmarks run compiled) the repository is one level further up.
const HERE = new URL('../../', import.meta.url).pathname;
export const REPO_ROOT = HERE.endsWith('/dist/') ? HERE.slice(0, -'dist/'.length) : HERE;
export const CLI = join(REPO_ROOT, 'bin/medtrail.js');
