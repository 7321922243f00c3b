// `medtrail audit` rebuilds the custody tables and the state maps from the leaves alone (server/map/audit-map.ts)
// and names a custody row the leaves do not give, and a mismatch with the signed checkpoint of that size (an
// operator that signed a state the leaves do not give).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { openLedger } from '../../server/context.js';
import { custodyServices } from '../../server/custody/services.js';
import { cli } from '../support/cli.js';
import { gtinOf, sign, startChain, type Chain } from '../support/custody.js';

interface Report {
  ok: boolean;
  findings: { code: string; message: string }[];
  maps: { size?: number; checkpointCompared: boolean; roots?: { packs: string; lots: string } };
}

function audit(db: string): { status: number | null; report: Report } {
  const r = cli(['audit', '--db', db, '--json']);
  return { status: r.status, report: JSON.parse(r.stdout) as Report };
}

let c: Chain;
let db = '';
const gtin = gtinOf(31);

beforeAll(async () => {
  c = await startChain();
  const [product] = await c.ok(sign('product', c.m, { gtin, name: 'Mapitol', form: 'tablets', strength: '5 mg', packSize: 30 }));
  const [batch] = await c.ok(sign('batch', c.m, { gtin, lot: 'M1', expiry: '301231', serials: ['M1A', 'M1B', 'M1C'] }, [product!]));
  await c.ok(sign('batch', c.m, { gtin, lot: 'M2', expiry: '301231', serials: ['M2A'] }, [product!]));
  await c.ok(sign('ship', c.m, { to: c.d.gln, items: [{ type: 'pack', gtin, serial: 'M1A' }] }, [batch!]));
  await c.ok(sign('recall', c.m, { gtin, lot: 'M2', reason: 'test' }));
  c.srv.ledger.log.signNow();
  db = c.t.db;
  await c.srv.close();
});
afterAll(async () => {
  c?.t.cleanup();
});

function copyOf(name: string): string {
  const p = join(c.t.dir, `${name}.db`);
  const d = new Database(db);
  d.prepare('VACUUM INTO ?').run(p);
  d.close();
  return p;
}

describe('medtrail audit: the state maps', () => {
  it('rebuilds them from the leaves and finds them equal to the signed checkpoint', () => {
    const { status, report } = audit(db);
    expect(report.findings).toEqual([]);
    expect(status).toBe(0);
    expect(report.maps.checkpointCompared).toBe(true);
    expect(report.maps.roots?.packs).toMatch(/^[A-Za-z0-9+/]{43}=$/);
  });

  it('names a checkpoint whose map roots the leaves do not give (an operator that edited the state and signed it)', () => {
    const p = copyOf('lie');
    // The operator marks a shipped pack active again in its tables and has the server rebuild and sign the maps.
    const d = new Database(p);
    d.prepare("UPDATE custody_packs SET state = 'active' WHERE serial = 'M1A'").run();
    d.close();
    const l = openLedger({ db: p });
    const s = custodyServices(l);
    // One more entry so that a new checkpoint is signed over the lying maps.
    s.submit([sign('product', c.m, { gtin: gtinOf(32), name: 'After', form: 'tablets', strength: '1 mg', packSize: 10 })]);
    l.log.signNow();
    l.close();
    const { status, report } = audit(p);
    expect(status).toBe(1);
    expect(report.findings.map((f) => f.code)).toContain('MAP_ROOT_MISMATCH');
  });

  it('names a custody row edited in the file without a new signature (a shipped pack made active again, a recall removed)', () => {
    const p = copyOf('rows');
    const d = new Database(p);
    d.prepare("UPDATE custody_packs SET state = 'active', in_transit_to = NULL WHERE serial = 'M1A'").run();
    d.prepare("UPDATE custody_lots SET recalled_idx = NULL, recall_reason = NULL, recalled_at = NULL WHERE lot = 'M2'").run();
    d.close();
    const { status, report } = audit(p);
    expect(status).toBe(1);
    const rows = report.findings.filter((f) => f.code === 'CUSTODY_ROW_MISMATCH').map((f) => f.message);
    expect(rows.some((m) => m.startsWith('custody_packs: rows not given by the leaves') && m.includes('M1A'))).toBe(true);
    expect(rows.some((m) => m.startsWith('custody_lots: rows not given by the leaves') && m.includes('M2'))).toBe(true);
  });
});
