// How CI installs the native modules: from source, with nothing downloaded from outside the npm registry, and
// without the environment setting npm 11 warns about ("Unknown env config "build-from-source". This will stop
// working in the next major version of npm"). better-sqlite3's install step is `prebuild-install || node-gyp
// rebuild`; prebuild-install now learns "build from source" from the project's .prebuild-installrc, which it
// finds from the package's folder upwards. Shown here by running the real prebuild-install the way npm does, in
// a package folder under a copy of the project's file, with npm_config_build_from_source unset: it must decline
// to download (its exit 1 hands over to node-gyp) before any network access.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, tempDir } from './support/tmp.js';

describe('native modules build from source in CI', () => {
  it('.ci/run no longer sets npm_config_build_from_source (npm 11 warns it will stop working)', () => {
    const run = readFileSync(join(REPO_ROOT, '.ci/run'), 'utf8');
    const lines = run.split('\n').filter((l) => !l.trim().startsWith('#'));
    expect(lines.join('\n')).not.toMatch(/npm_config_build_from_source|build-from-source/);
  });

  it("better-sqlite3's prebuild-install reads .prebuild-installrc and does not try to download", () => {
    const t = tempDir('medtrail-prebuild-');
    try {
      const project = join(t.dir, 'project');
      const pkg = join(project, 'node_modules', 'better-sqlite3');
      mkdirSync(pkg, { recursive: true });
      copyFileSync(join(REPO_ROOT, '.prebuild-installrc'), join(project, '.prebuild-installrc'));
      copyFileSync(join(REPO_ROOT, 'node_modules/better-sqlite3/package.json'), join(pkg, 'package.json'));
      const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'], HOME: t.dir, npm_config_loglevel: 'info' };
      const r = spawnSync(process.execPath, [join(REPO_ROOT, 'node_modules/prebuild-install/bin.js')], { cwd: pkg, env, encoding: 'utf8', timeout: 30_000 });
      expect(r.stderr).toContain('--build-from-source specified, not attempting download');
      expect(r.status).toBe(1);
    } finally {
      t.cleanup();
    }
  });
});
