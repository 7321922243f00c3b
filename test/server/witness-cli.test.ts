// `medtrail witness` as a person runs it, in its own process: it witnesses a real medtrail log served by a real
// server, cosigns its checkpoint (c2sp.org/tlog-cosignature v1), and the cosignature verifies under the key it
// printed; a checkpoint of a log it was not told about is 404 (c2sp.org/tlog-witness).
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addSignatureLines, parseCosignerVerifierKey, verifyCosignatures } from '../../core/log/cosignature.js';
import { formatAddCheckpoint } from '../../core/log/witness-protocol.js';
import { cli } from '../support/cli.js';
import { startChain, type Chain } from '../support/custody.js';
import { CLI, tempDir } from '../support/tmp.js';

let c: Chain;
const t = tempDir('medtrail-witness-cli-');
let child: ReturnType<typeof spawn>;
let info: { url: string; vkey: string; name: string };

beforeAll(async () => {
  c = await startChain();
  const vkey = await (await fetch(`${c.srv.url}/api/v1/log/key`)).text();
  const key = join(t.dir, 'witness.key.json');
  expect(cli(['keygen', '--out', key, '--name', 'witness.test/w1']).status).toBe(0);
  child = spawn(process.execPath, [CLI, 'witness', '--db', join(t.dir, 'w.db'), '--port', '0', '--key', key, '--name', 'witness.test/w1', '--log', vkey.trim(), '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  for await (const line of createInterface({ input: child.stdout! })) {
    info = JSON.parse(line) as typeof info;
    break;
  }
});
afterAll(async () => {
  child?.kill('SIGTERM');
  await c?.close();
  t.cleanup();
});

describe('medtrail witness', () => {
  it("cosigns the log's checkpoint, and the cosignature verifies under the key it printed", async () => {
    const note = await (await fetch(`${c.srv.url}/api/v1/checkpoint`)).text();
    const r = await fetch(`${info.url}/add-checkpoint`, { method: 'POST', body: formatAddCheckpoint({ oldSize: 0, proof: [], checkpoint: note }) });
    expect(r.status).toBe(200);
    const text = await r.text();
    expect(text.split('\n').filter((l) => l !== '')).toHaveLength(1);
    expect(text).toMatch(/^\u2014 witness\.test\/w1 /);
    const { cosigned } = verifyCosignatures(addSignatureLines(note, text), [parseCosignerVerifierKey(info.vkey)]);
    expect(cosigned).toHaveLength(1);
  });

  it('answers 404 for a checkpoint of a log it does not witness', async () => {
    const other = await startChain();
    try {
      const note = await (await fetch(`${other.srv.url}/api/v1/checkpoint`)).text();
      const r = await fetch(`${info.url}/add-checkpoint`, { method: 'POST', body: formatAddCheckpoint({ oldSize: 0, proof: [], checkpoint: note }) });
      // Both test ledgers share an origin name but not a key: unknown origin is 404, an unknown key 403.
      expect([403, 404]).toContain(r.status);
    } finally {
      await other.close();
    }
  });
});
