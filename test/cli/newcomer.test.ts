// A newcomer's first day with the built `medtrail` CLI, only from the README and --help: the friction found
// in a first-day session, each shown gone. Real processes on a temporary directory.
import { createServer, type Server } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkDigit } from '../../core/gs1/identifiers.js';
import { startUntil } from '../support/start.js';
import { cli } from '../support/cli.js';
import { gln } from '../support/ledger.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { tempDir } from '../support/tmp.js';

const t = tempDir('medtrail-newcomer-');
afterAll(() => t.cleanup());

describe('usage errors', () => {
  it('under --json are one JSON error, naming every missing required option at once (exit 2)', () => {
    const r = cli(['recall', '--json']);
    expect(r.status).toBe(2);
    const e = JSON.parse(r.stderr.trim()) as { error: { code: string; message: string } };
    expect(e.error.code).toBe('CLI_USAGE');
    expect(e.error.message).toContain('--gtin, --lot, --reason');
    const human = cli(['recall']);
    expect(human.status).toBe(2);
    expect(human.stderr).toContain('required options --gtin, --lot, --reason not specified');
  });

  it('--help marks required options', () => {
    const r = cli(['recall', '--help']);
    expect(r.stdout).toMatch(/--gtin <gtin>\s+GTIN \(required\)/);
    expect(r.stdout).not.toMatch(/--server <url>.*\(required\)/);
  });
});

describe('with a ledger made by `medtrail init` in the working directory', () => {
  let server: ServerProcess;
  beforeAll(async () => {
    // Plain `medtrail init`: ./data/medtrail.db with its keys beside it, as the README says.
    expect(cli(['init'], { cwd: t.dir }).status).toBe(0);
    server = await startServerProcess(join(t.dir, 'data', 'medtrail.db'));
  });
  afterAll(() => server?.stop());

  it('enroll finds the authority key init created, as demo does', () => {
    const key = join(t.dir, 'p.key.json');
    expect(cli(['keygen', '--out', key, '--name', 'Newcomer pharmacy', '--gln', gln(77)]).status).toBe(0);
    const r = cli(['enroll', '--participant-key', key, '--role', 'pharmacy', '--server', server.url, '--json'], { cwd: t.dir });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ action: 'admit', gln: gln(77) });
  });

  it('a busy port is PORT_IN_USE naming --port, without a stack trace', async () => {
    const busy: Server = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const address = busy.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    try {
      const r = cli(['serve', '--db', join(t.dir, 'data', 'medtrail.db'), '--port', String(port)]);
      expect(r.status).toBe(1);
      expect(r.stderr).toContain('PORT_IN_USE');
      expect(r.stderr).toContain(`port ${port}`);
      expect(r.stderr).toContain('--port');
      expect(r.stderr).not.toMatch(/\n\s+at /);
    } finally {
      await new Promise((r) => busy.close(r));
    }
  });

  it('audit --checkpoint with a file that is not a checkpoint of this log says so, not LEDGER ALTERED', () => {
    const bad = join(t.dir, 'not-a-checkpoint.txt');
    writeFileSync(bad, 'hello\n');
    const r = cli(['audit', '--db', join(t.dir, 'data', 'medtrail.db'), '--checkpoint', bad]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('CHECKPOINT_FILE_BAD');
    expect(r.stderr).toContain(bad);
    expect(r.stdout + r.stderr).not.toContain('LEDGER ALTERED');
  });
});

describe('messages that name what was typed and what would be right', () => {
  const key = join(t.dir, 'm.key.json');
  const gtin = `040123450000${'1'}${checkDigit('0401234500001')}`;
  beforeAll(() => {
    expect(cli(['keygen', '--out', key, '--name', 'Newcomer maker', '--gln', gln(78)]).status).toBe(0);
  });

  it('a wrong check digit says which digit the GTIN needs', () => {
    const body = '0401234500001';
    const good = `${body}${checkDigit(body)}`;
    const wrong = `${body}${(checkDigit(body) + 1) % 10}`;
    const r = cli(['batch', '--key', key, '--gtin', wrong, '--lot', 'L1', '--expiry', '301231', '--count', '1', '--server', 'http://127.0.0.1:9']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('GS1_BAD_CHECK_DIGIT');
    expect(r.stderr).toContain(`need ${checkDigit(body)} (${good})`);
  });

  it('a bad serials file names the file, the line and the serial', () => {
    const file = join(t.dir, 'serials.txt');
    writeFileSync(file, 'SN0001\n\n# comment\nSN 0002\n');
    const r = cli(['batch', '--key', key, '--gtin', gtin, '--lot', 'L1', '--expiry', '301231', '--serials', file, '--server', 'http://127.0.0.1:9']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${file} line 4`);
    expect(r.stderr).toContain('"SN 0002"');
  });

  it('a batch whose expiry is already past is not registered silently', () => {
    const r = cli(['batch', '--key', key, '--gtin', gtin, '--lot', 'L1', '--expiry', '200101', '--count', '1', '--server', 'http://127.0.0.1:9']);
    expect(r.stderr).toContain('warning: expiry 200101 (2020-01-01) is already past');
  });
});

describe('medtrail start, a second time', () => {
  it('prints the demo packs again (it printed them on the first start only), at the address it serves now', async () => {
    const db = join(t.dir, 'start', 'data', 'medtrail.db');
    const packsLine = (out: string): Record<string, string> | undefined => {
      const line = out.split('\n').find((l) => l.startsWith('{"packs"'));
      return line === undefined ? undefined : (JSON.parse(line) as { packs: Record<string, string> }).packs;
    };
    const first = await startUntil(['--db', db, '--port', '0', '--json'], (out) => packsLine(out) !== undefined);
    expect(first.status).toBe(0);
    const packs = packsLine(first.out)!;
    expect(Object.keys(packs)).toContain('GENUINE');

    // Again, as a person would run it (no --json), on another free port.
    const second = await startUntil(['--db', db, '--port', '0'], (out) => /^COUNTERFEIT +http/m.test(out) && /^IN_TRANSIT +http/m.test(out));
    expect(second.status).toBe(0);
    expect(second.out).not.toContain('created a new ledger');
    expect(second.out).toContain('One pack for each verdict');
    const url = /serving .* at (http:\/\/[^ ]+) /.exec(second.out)?.[1];
    expect(url).toBeDefined();
    for (const [verdict, uri] of Object.entries(packs)) {
      const path = uri.slice(uri.indexOf('/01/'));
      expect(second.out).toMatch(new RegExp(`^${verdict} +${(url! + path).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
    }
    // Each still verified afresh against the server: none is said to answer otherwise now.
    expect(second.out).not.toContain('the server answers');
  });
});
