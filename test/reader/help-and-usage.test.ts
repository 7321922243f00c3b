// What `medtrail-reader --help` and its usage errors tell a newcomer. The help used to contradict the exit-code
// rule ("--once: exit code 0 for GENUINE, 1 for anything else") and JPEG support ("JPEG is not decoded"), and
// commander's own usage errors ignored --json. Now both tools print the one rule (core/verdict.ts exitCodeHelp,
// built from exitCodeOf), and the reader's usage errors are coded, JSON under --json, exit 2. The built bins, as
// child processes; nothing here reaches pcscd (a usage error ends before NFC starts).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exitCodeHelp } from '../../core/verdict.js';
import { cli } from '../support/cli.js';
import { REPO_ROOT } from '../support/tmp.js';

const reader = (args: string[]) => spawnSync(process.execPath, [join(REPO_ROOT, 'bin/medtrail-reader.js'), ...args], { encoding: 'utf8', input: '', timeout: 30_000 });

describe('--help', () => {
  it('medtrail-reader and medtrail verify print the same exit-code rule; the reader takes JPEG images', () => {
    const r = reader(['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(exitCodeHelp());
    expect(r.stdout).not.toMatch(/1 for anything else|JPEG is not decoded/);
    expect(r.stdout).toMatch(/--image <file\.\.\.>\s+verify the QR code in these PNG or JPEG files/);
    const v = cli(['verify', '--help']);
    expect(v.status).toBe(0);
    expect(v.stdout).toContain(exitCodeHelp());
    expect(exitCodeHelp()).toMatch(/^ {2}4 {2}not a genuine pack: COUNTERFEIT, UNKNOWN$/m);
  });
});

describe("medtrail-reader's usage errors", () => {
  it('under --json are one JSON error on stderr (CLI_USAGE, exit 2), commander\'s own included', () => {
    const r = reader(['--no-nfc', '--bogus', '--json']);
    expect(r.status).toBe(2);
    expect(JSON.parse(r.stderr.trim())).toEqual({ error: { code: 'CLI_USAGE', message: "unknown option '--bogus'" } });
    const k = reader(['--no-nfc', '--key', join(REPO_ROOT, 'no-such.key.json'), '--json']);
    expect(k.status).toBe(2);
    expect((JSON.parse(k.stderr.trim()) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'CLI_USAGE', message: expect.stringContaining('no-such.key.json') });
  });

  it('without --json are one coded line naming what was typed', () => {
    const r = reader(['--no-nfc', '--slow-ms', 'soon']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('medtrail-reader: CLI_USAGE: --slow-ms must be a number >= 0, got "soon"');
    expect(r.stderr).not.toMatch(/^Usage:/m);
  });
});
