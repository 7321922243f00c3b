// Reports from patients: "this pack is not genuine", recorded for the regulator. They are not ledger entries
// (anyone may send one, unsigned), so they live in their own table and never touch the log.
//
//   POST /api/v1/reports   public, {code, verdict?, note?} -> 201 {id, at}; 10 a minute per client, then 429
//   GET  /api/v1/reports?after=<id>   signed by a regulator (X-Medtrail-* headers) -> {reports: [...]}
//
// The client's address is used only in memory for the rate limit and is never stored.
import type { PatientReport } from '../../core/api/report.js';
import type Database from 'better-sqlite3';
import { Router, type Request } from 'express';
import { parseDigitalLink } from '../../core/gs1/digital-link.js';
import { parseElementString } from '../../core/gs1/element-string.js';
import { FieldErrors, MedtrailError } from '../../core/errors.js';
import { checkRequestTime, parseAuthHeaders, verifyRequest } from '../../core/api/request-auth.js';
import type { KeyBook } from '../log/keybook.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS reports (
  id      INTEGER PRIMARY KEY,
  at      TEXT NOT NULL,
  code    TEXT NOT NULL,
  gtin    TEXT,
  serial  TEXT,
  verdict TEXT,
  note    TEXT
) STRICT;`;

export const REPORTS_PER_MINUTE = 10;
const MAX_CODE = 4096;
const MAX_NOTE = 1000;
const PAGE = 500;
// Control characters other than tab/newline have no place in a note shown to a regulator.
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

export type Report = PatientReport;

/** Sliding one-minute window per client; the map is pruned so a flood of addresses cannot grow it without end. */
export class RateLimiter {
  private readonly hits = new Map<string, number[]>();
  constructor(private readonly perMinute: number) {}

  take(client: string, now = Date.now()): void {
    const recent = (this.hits.get(client) ?? []).filter((t) => now - t < 60_000);
    if (recent.length >= this.perMinute) throw new MedtrailError('RATE_LIMITED', `more than ${this.perMinute} reports a minute`);
    recent.push(now);
    this.hits.set(client, recent);
    if (this.hits.size > 10_000) {
      for (const [k, v] of this.hits) if (v.every((t) => now - t >= 60_000)) this.hits.delete(k);
    }
  }
}

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
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new MedtrailError('BAD_INPUT', 'body must be a JSON object');
  const b = body as Record<string, unknown>;
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
  return { code: code as string, verdict: verdict as string | null, note: note as string | null };
}

/** The signer of a request, who must be an enrolled regulator with a valid, fresh signature. */
export function requireRegulator(req: Request, keys: KeyBook): string {
  const auth = parseAuthHeaders((name) => {
    const v = req.headers[name];
    return typeof v === 'string' ? v : undefined;
  });
  if (auth === undefined) throw new MedtrailError('AUTH_BAD_HEADER', 'reports are read with a signed request');
  checkRequestTime(auth.at, Date.now());
  const rec = keys.get(auth.signer);
  if (rec === undefined) throw new MedtrailError('AUTH_SIGNER_UNKNOWN', `${auth.signer} is not enrolled`);
  if (rec.revoked) throw new MedtrailError('AUTH_KEY_REVOKED', `the key of ${auth.signer} is revoked`);
  const raw = (req as { rawBody?: Buffer }).rawBody;
  const body = raw === undefined ? new Uint8Array(0) : new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
  if (!verifyRequest({ method: req.method, path: req.originalUrl, body }, auth, rec.publicKey)) {
    throw new MedtrailError('AUTH_BAD_SIGNATURE', 'the request signature does not verify');
  }
  if (rec.role !== 'regulator') throw new MedtrailError('ROLE_NOT_ALLOWED', 'only a regulator reads reports');
  return auth.signer;
}

export function reportsRouter(db: Database.Database, keys: () => KeyBook, limiter = new RateLimiter(REPORTS_PER_MINUTE)): Router {
  db.exec(SCHEMA);
  const insert = db.prepare<[string, string, string | null, string | null, string | null, string | null]>(
    'INSERT INTO reports (at, code, gtin, serial, verdict, note) VALUES (?, ?, ?, ?, ?, ?)',
  );
  const list = db.prepare<[number, number], Report>('SELECT id, at, code, gtin, serial, verdict, note FROM reports WHERE id > ? ORDER BY id LIMIT ?');
  const r = Router();

  r.post('/reports', (req, res) => {
    limiter.take(req.socket.remoteAddress ?? 'unknown');
    const rep = parseReport(req.body);
    const { gtin, serial } = identify(rep.code);
    const at = new Date().toISOString();
    const id = Number(insert.run(at, rep.code, gtin, serial, rep.verdict, rep.note).lastInsertRowid);
    res.status(201).json({ id, at });
  });

  r.get('/reports', (req, res) => {
    requireRegulator(req, keys());
    const raw = req.query['after'];
    const after = raw === undefined ? 0 : Number(raw);
    if (typeof raw !== 'undefined' && (typeof raw !== 'string' || !/^(0|[1-9][0-9]{0,15})$/.test(raw))) {
      throw new MedtrailError('BAD_INPUT', 'after must be a non-negative integer', { fields: [{ path: 'after', code: 'BAD_INPUT', message: 'non-negative integer' }] });
    }
    res.json({ reports: list.all(after, PAGE) });
  });
  return r;
}
