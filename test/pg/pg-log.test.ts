// The log on a real PostgreSQL server (server/store/pg/pg-log.ts): the same tree as the SQLite store for the
// same entries; appends from several connections at once serialized by the database (no lost, duplicated or
// reordered leaf); a replayed nonce refused with nothing written; append-only enforced by the database itself.
import { afterAll, describe, expect, it } from 'vitest';
import { rootFromLeafHashes } from '../../core/log/merkle.js';
import { toHex } from '../../core/bytes.js';
import { PgLogStore } from '../../server/store/pg/pg-log.js';
import { openLedger } from '../../server/context.js';
import { toAppendInput } from '../../server/log/ingest.js';
import { admit, makeLedger, participantKey } from '../support/ledger.js';
import { freshSchema, PG_URL } from '../support/pg.js';

const stores: PgLogStore[] = [];
afterAll(async () => {
  for (const s of stores) await s.close();
});

async function open(schema = freshSchema()): Promise<PgLogStore> {
  const s = await PgLogStore.open(PG_URL!, schema);
  stores.push(s);
  return s;
}

describe.skipIf(PG_URL === undefined)('the log on PostgreSQL (needs MEDTRAIL_TEST_PG_URL, which .ci/run sets)', () => {
  it('holds the same tree as the SQLite store for the same entries', async () => {
    const l = makeLedger();
    const sqlite = openLedger({ db: l.db });
    try {
      const inputs = Array.from({ length: 37 }, (_, i) => toAppendInput(admit(l.authority, participantKey(i + 2))));
      sqlite.log.append(inputs.slice(0, 20));
      sqlite.log.append(inputs.slice(20));
      const pg = await open();
      await pg.append(inputs.slice(0, 5));
      await pg.append(inputs.slice(5, 6));
      await pg.append(inputs.slice(6));
      const head = await pg.head();
      expect(head.size).toBe(37);
      expect(toHex(head.root)).toBe(toHex(sqlite.store.head().root));
      const leaves = await pg.leaves(0, 37);
      expect(leaves.map((x) => toHex(x.hash))).toEqual(sqlite.store.leaves(0, 37).map((x) => toHex(x.hash)));
    } finally {
      sqlite.close();
      l.cleanup();
    }
  });

  it('serializes appends from eight connections at once: every leaf once, in one order, the root of that order', async () => {
    const l = makeLedger();
    try {
      const schema = freshSchema();
      const writers = await Promise.all(Array.from({ length: 4 }, () => open(schema)));
      const per = 25;
      const inputs = Array.from({ length: 8 * per }, (_, i) => toAppendInput(admit(l.authority, participantKey(i + 2))));
      const results = await Promise.all(
        Array.from({ length: 8 }, async (_, w) => {
          const out = [];
          for (let i = 0; i < per; i += 5) out.push(...(await writers[w % 4]!.append(inputs.slice(w * per + i, w * per + i + 5))));
          return out;
        }),
      );
      const indexes = results.flat().map((r) => r.index).sort((a, b) => a - b);
      expect(indexes).toEqual(Array.from({ length: 8 * per }, (_, i) => i));
      const leaves = await writers[0]!.leaves(0, 8 * per);
      expect(new Set(leaves.map((x) => toHex(x.hash))).size).toBe(8 * per);
      expect(toHex((await writers[0]!.head()).root)).toBe(toHex(rootFromLeafHashes(leaves.map((x) => x.hash))));
    } finally {
      l.cleanup();
    }
  });

  it('refuses a replayed (signer, nonce) with ENTRY_REPLAYED and leaves every table as it was', async () => {
    const l = makeLedger();
    try {
      const pg = await open();
      const one = toAppendInput(admit(l.authority, participantKey(2)));
      await pg.append([one]);
      const before = await pg.head();
      await expect(pg.append([toAppendInput(admit(l.authority, participantKey(3))), one])).rejects.toMatchObject({ code: 'ENTRY_REPLAYED' });
      expect(await pg.head()).toEqual(before);
      expect((await pg.query('SELECT count(*)::int AS n FROM $schema.leaves')).rows[0]).toEqual({ n: 1 });
    } finally {
      l.cleanup();
    }
  });

  it('is append-only in the database itself: UPDATE, DELETE and TRUNCATE of leaves, nodes and checkpoints are refused', async () => {
    const l = makeLedger();
    try {
      const pg = await open();
      await pg.append(Array.from({ length: 4 }, (_, i) => toAppendInput(admit(l.authority, participantKey(i + 2)))));
      await pg.saveCheckpoint({ size: 4, root: (await pg.head()).root, note: 'x', signedAt: new Date().toISOString() });
      for (const sql of [
        "UPDATE $schema.leaves SET kind = 'forged' WHERE idx = 1",
        'DELETE FROM $schema.leaves WHERE idx = 3',
        'TRUNCATE $schema.leaves',
        'UPDATE $schema.nodes SET hash = hash',
        'DELETE FROM $schema.nodes',
        "UPDATE $schema.checkpoints SET note = 'y'",
        'DELETE FROM $schema.checkpoints',
      ]) {
        await expect(pg.query(sql), sql).rejects.toThrow(/append-only/);
      }
      expect((await pg.head()).size).toBe(4);
      expect((await pg.leaves(0, 4)).length).toBe(4);
    } finally {
      l.cleanup();
    }
  });
});

describe('CI', () => {
  it.runIf(process.env['CI'] === 'true')('starts a PostgreSQL cluster for these tests (.ci/run), so none of them is skipped there', () => {
    expect(PG_URL).toMatch(/^postgres:\/\/medtrail@127\.0\.0\.1:\d+\/medtrail_test$/);
  });
});
