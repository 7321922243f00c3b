// Reports from patients: "this pack is not genuine", recorded for the regulator. They are not ledger entries
// (anyone may send one, unsigned), so they live in their own table and never touch the log.
//
//   POST /api/v1/reports   public, {code, verdict?, note?} -> 201 {id, at}; 10 a minute per client, then 429
//   GET  /api/v1/reports?after=<id>   signed by a regulator (X-Medtrail-* headers) -> {reports: [...]}
//
// The client's address is used only in memory for the rate limit and is never stored.
// This module owns the reports table (docs/architecture.md, The store): in the ledger's SQLite file, or, with the
// ledger in PostgreSQL, in its schema there, so that every server takes and lists the same reports (ids from one
// sequence).
import type { PatientReport } from '../../core/api/answers.js';
import type Database from 'better-sqlite3';
import { Router } from 'express';
import { parseDigitalLink } from '../../core/gs1/digital-link.js';
import { parseElementString } from '../../core/gs1/element-string.js';
import { checkedString, FieldErrors, MedtrailError } from '../../core/errors.js';
import { isJsonObject } from '../../core/api/wire.js';
import type { RequestAuth } from '../http/auth.js';
import { TokenBuckets } from '../http/rate-limit.js';
import type { PgRows } from '../store/pg/pg-log.js';
import { writeSoon } from '../store/ledger-store.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS reports (
  id      INTEGER PRIMARY KEY,
  at      TEXT NOT NULL,
  code    TEXT NOT NULL,
  gtin    TEXT,
  serial  TEXT,
  verdict TEXT,
  note    TEXT,
  claimed TEXT
) STRICT;`;

/** What the server itself says of a reported code: its verdict, or null for a code that names no pack. */
export type Judge = (code: string) => string | null;

export const REPORTS_PER_MINUTE = 10;
const MAX_CODE = 4096;
const MAX_NOTE = 1000;
const PAGE = 500;
// Control characters other than tab/newline have no place in a note shown to a regulator.
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

export type Report = PatientReport;

function identify(code: string): { gtin: string | null; serial: string | null } {
  try {
    const dl = parseDigitalLink(code);
    return { gtin: dl.gtin, serial: dl.serial ?? null };
  } catch {
    try {
      const es = parseElementString(code);
      return { gtin: es.ais.gtin ?? null, serial: es.ais.serial ?? null };
    } catch {
      return { gtin: null, serial: null };
    }
  }
}

function parseReport(body: unknown): { code: string; verdict: string | null; note: string | null } {
  if (!isJsonObject(body)) throw new MedtrailError('BAD_INPUT', 'body must be a JSON object');
  const b = body;
  const errs = new FieldErrors();
  for (const k of Object.keys(b)) if (!['code', 'verdict', 'note'].includes(k)) errs.add(k, 'BAD_INPUT', 'unknown member');
  const code = b['code'];
  if (typeof code !== 'string' || code.length === 0 || code.length > MAX_CODE || CONTROL.test(code.replace(/\x1d/g, ''))) {
    errs.add('code', 'BAD_INPUT', `a string of 1..${MAX_CODE} characters`);
  }
  const verdict = b['verdict'] ?? null;
  if (verdict !== null && (typeof verdict !== 'string' || !/^[A-Z_]{1,32}$/.test(verdict))) errs.add('verdict', 'BAD_INPUT', 'an upper-case verdict name');
  const note = b['note'] ?? null;
  if (note !== null && (typeof note !== 'string' || note.length > MAX_NOTE || CONTROL.test(note))) errs.add('note', 'BAD_INPUT', `text of at most ${MAX_NOTE} characters`);
  errs.throwIfAny('BAD_INPUT', 'bad report');
  return { code: checkedString(code), verdict: verdict === null ? null : checkedString(verdict), note: note === null ? null : checkedString(note) };
}

/** Where reports are kept: the SQLite file's table, or the PostgreSQL schema's. */
export interface ReportStore {
  add(r: Omit<Report, 'id'>): Promise<number>;
  after(id: number, limit: number): Promise<Report[]>;
}

export function sqliteReports(db: Database.Database): ReportStore {
  db.exec(SCHEMA);
  // Tables made before reports kept the sender's claim apart: add its column.
  const columns = db.prepare<[], { name: string }>('PRAGMA table_info(reports)').all().map((c) => c.name);
  if (!columns.includes('claimed')) db.exec('ALTER TABLE reports ADD COLUMN claimed TEXT');
  const insert = db.prepare<[string, string, string | null, string | null, string | null, string | null, string | null]>(
    'INSERT INTO reports (at, code, gtin, serial, verdict, note, claimed) VALUES (?, ?, ?, ?, ?, ?, ?)',
  );
  const list = db.prepare<[number, number], Report>('SELECT id, at, code, gtin, serial, verdict, note, claimed FROM reports WHERE id > ? ORDER BY id LIMIT ?');
  return {
    // writeSoon: the ledger writer thread may hold the write lock (server/store/ledger-store.ts).
    add: (r) => Promise.resolve(writeSoon(db, () => Number(insert.run(r.at, r.code, r.gtin, r.serial, r.verdict, r.note, r.claimed).lastInsertRowid))),
    after: (id, limit) => Promise.resolve(list.all(id, limit)),
  };
}

/** The reports table in the ledger's PostgreSQL schema (`$schema` in `q`'s SQL is the schema). */
export function pgReports(q: PgRows): ReportStore {
  const made = q(`CREATE TABLE IF NOT EXISTS $schema.reports (id BIGSERIAL PRIMARY KEY, at TEXT NOT NULL, code TEXT NOT NULL, gtin TEXT, serial TEXT,
    verdict TEXT, note TEXT, claimed TEXT)`);
  made.catch(() => undefined);
  return {
    add: async (r) => {
      await made;
      const [row] = await q<{ id: number }>('INSERT INTO $schema.reports (at, code, gtin, serial, verdict, note, claimed) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id', [
        r.at,
        r.code,
        r.gtin,
        r.serial,
        r.verdict,
        r.note,
        r.claimed,
      ]);
      return row!.id;
    },
    after: async (id, limit) => {
      await made;
      return q<Report>('SELECT id, at, code, gtin, serial, verdict, note, claimed FROM $schema.reports WHERE id > $1 ORDER BY id LIMIT $2', [id, limit]);
    },
  };
}

/**
 * `auth` is the ledger's one request authenticator (replay-checked like every signed read); the POST limit is
 * the same token bucket as the public routes' (server/http/rate-limit.ts), with a budget of its own.
 */
export function reportsRouter(store: ReportStore, auth: RequestAuth, judge: Judge): Router {
  const limiter = new TokenBuckets({ perSecond: REPORTS_PER_MINUTE / 60, burst: REPORTS_PER_MINUTE });
  const r = Router();

  r.post('/reports', async (req, res) => {
    const wait = limiter.take(req.socket.remoteAddress ?? 'unknown');
    if (wait > 0) {
      res.setHeader('Retry-After', String(wait));
      throw new MedtrailError('RATE_LIMITED', `more than ${REPORTS_PER_MINUTE} reports a minute; retry in ${wait} s`);
    }
    const rep = parseReport(req.body);
    const { gtin, serial } = identify(rep.code);
    const at = new Date().toISOString();
    // The verdict recorded is the server's own, judged now: a report cannot choose it (anyone may send one).
    // What the sender said is kept beside it as its claim.
    const id = await store.add({ at, code: rep.code, gtin, serial, verdict: judge(rep.code), note: rep.note, claimed: rep.verdict });
    res.status(201).json({ id, at });
  });

  r.get('/reports', async (req, res) => {
    auth.requireRole(req, ['regulator'], 'the reports');
    const raw = req.query['after'];
    const after = raw === undefined ? 0 : Number(raw);
    if (typeof raw !== 'undefined' && (typeof raw !== 'string' || !/^(0|[1-9][0-9]{0,15})$/.test(raw))) {
      throw new MedtrailError('BAD_INPUT', 'after must be a non-negative integer', { fields: [{ path: 'after', code: 'BAD_INPUT', message: 'non-negative integer' }] });
    }
    res.json({ reports: await store.after(after, PAGE) });
  });
  return r;
}
