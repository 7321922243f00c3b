// How CI installs the native modules: from source, with nothing downloaded from outside the npm registry, and
// without the environment setting npm 11 warns about ("Unknown env config "build-from-source". This will stop
// working in the next major version of npm"). better-sqlite3's install step is `prebuild-install || node-gyp
// rebuild`; prebuild-install now learns "build from source" from the project's .prebuild-installrc, which it
// finds from the package's folder upwards. Shown here by running the real prebuild-install the way npm does, in
// a package folder under a copy of the project's file, with npm_config_build_from_source unset: it must decline
// to download (its exit 1 hands over to node-gyp) before any network access. npm 11 also asks that the install
// scripts a project relies on be approved (allowScripts in package.json): the three it runs are.
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

  it('every dependency with an install script is approved in allowScripts (npm 11 warns of the others; a later npm skips them)', () => {
    const lock: unknown = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8'));
    const pkg: unknown = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8'));
    const packages = typeof lock === 'object' && lock !== null && 'packages' in lock && typeof lock.packages === 'object' && lock.packages !== null ? lock.packages : {};
    const withScripts = Object.entries(packages)
      .filter(([, v]) => typeof v === 'object' && v !== null && 'hasInstallScript' in v && v.hasInstallScript === true)
      .map(([path]) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length))
      .sort();
    const allowed = typeof pkg === 'object' && pkg !== null && 'allowScripts' in pkg && typeof pkg.allowScripts === 'object' && pkg.allowScripts !== null ? pkg.allowScripts : {};
    expect(withScripts).toEqual(expect.arrayContaining(['@pokusew/pcsclite', 'better-sqlite3']));
    expect(Object.entries(allowed).filter(([, ok]) => ok === true).map(([name]) => name).sort()).toEqual(withScripts);
  });
});
