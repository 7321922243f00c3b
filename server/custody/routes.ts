// HTTP routes of the custody service (thin: parse, call, map).
//   POST /entries                 one signed entry, or {"entries":[...]} (up to 1,000, all or nothing); cheapest
//                                 checks first, large bodies read in a worker thread (services.ts)
//   GET  /participants            enrolled participants (public: gln, name, role, publicKey, prefixes, revoked)
//   GET  /participants/:gln
//   GET  /products/:gtin          product master data (public)
//   GET  /shipments?to=GLN&open=1 shipments addressed to a party (open=1: not yet received)
//   GET  /held?gln=GLN[&gtin&lot | &gtin&serial][&limit&offset]  active packs a party holds; with gtin+lot,
//        every such pack of the lot plus `prev`, the leaf hashes a whole-lot ship entry must name
//   GET  /log/entries?start&end   the leaves [start, end) (at most 1,000 and about 1 MiB): signed reads only, see below
// /shipments and /held say who supplies whom and what stock a party has: they answer only a request signed
// (core/api/request-auth.ts) by that party or by a regulator (AUTH_REQUIRED, AUTH_NOT_PARTY otherwise).
import { Router, type Request } from 'express';
import { toHex } from '../../core/bytes.js';
import type { LogService } from '../log/log-service.js';
import { encodeEntryBundle, parseTilePath, tileExists, tilePath, TILE_WIDTH } from '../../core/log/tiles.js';
import { writeEntries } from '../http/leaf-page.js';
import { intParams } from '../http/params.js';
import { MedtrailError } from '../../core/errors.js';
import { assertGln, normalizeGtin, validateLot, validateSerial } from '../../core/gs1/identifiers.js';
import type { CustodyServices } from './services.js';
import type { PackRow, ParticipantRow } from './state.js';

function publicParticipant(p: ParticipantRow): { gln: string; name: string; role: string; publicKey: string; prefixes: string[]; revoked: boolean } {
  return { gln: p.gln, name: p.name, role: p.role, publicKey: p.publicKey, prefixes: p.prefixes, revoked: p.revoked };
}

/** One query parameter given once (or not at all), checked by `check`; coded 400 otherwise. */
function query(req: Request, name: string, required: boolean, check: (v: string, path: string) => unknown = () => undefined): string | undefined {
  const v = req.query[name];
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'string') {
    throw new MedtrailError('BAD_INPUT', `${name}: ${v === undefined ? 'required' : 'must be given once'}`, {
      fields: [{ path: name, code: 'BAD_INPUT', message: v === undefined ? 'required' : 'must be given once' }],
    });
  }
  check(v, name);
  return v;
}

function intQuery(req: Request, name: string, dflt: number, max: number): number {
  const v = query(req, name, false);
  if (v === undefined) return dflt;
  if (!/^(0|[1-9][0-9]{0,8})$/.test(v) || Number(v) > max) {
    throw new MedtrailError('BAD_INPUT', `${name} must be an integer from 0 to ${max}`, { fields: [{ path: name, code: 'BAD_INPUT', message: `0 to ${max}` }] });
  }
  return Number(v);
}

export function custodyRoutes(s: CustodyServices, log: LogService): Router {
  const r = Router();

  // The entries name who shipped what to whom, and every serial of a batch: they go to enrolled participants
  // (regulators among them) over a signed request, never to the public (issue 12 #9). The public checks the log
  // with checkpoints and proofs (server/http/log-routes.ts), and its own pack through verify.
  // A page stops at 1,000 leaves or once its leaf bytes reach a cap (log-service.ts MAX_PAGE_BYTES); when it
  // stops short of what was asked and of the log, `next` says where to go on (issue 12 item 4).
  r.get('/log/entries', (req, res) => {
    if (s.auth.authenticate(req) === undefined) {
      throw new MedtrailError('AUTH_REQUIRED', 'log entries are answered only to a request signed by an enrolled participant');
    }
    const { start, end } = intParams(req, ['start', 'end'] as const);
    const leaves = log.entries(start, end);
    // (No leaves at all only when rows are missing under the head: a tampered file, which audit names.)
    const last = leaves[leaves.length - 1];
    const after = last === undefined ? undefined : last.index + 1;
    writeEntries(res, leaves, after !== undefined && after < Math.min(end, log.size()) ? after : undefined);
  });

  // c2sp.org/tlog-tiles entry bundles: the entries of level-0 tile N, as confidential as /log/entries (signed
  // reads of enrolled participants). An entry over 65,535 bytes (a large batch) does not fit the format's
  // uint16 length: its bundle is TOO_LARGE, and such entries are read through /log/entries.
  r.get(/^\/tile\/entries\/(.+)$/, (req, res) => {
    if (s.auth.authenticate(req) === undefined) {
      throw new MedtrailError('AUTH_REQUIRED', 'entry bundles are answered only to a request signed by an enrolled participant');
    }
    const t = parseTilePath(`entries/${/^\/tile\/entries\/(.+)$/.exec(req.path)![1]!}`);
    if (!tileExists(log.size(), t)) throw new MedtrailError('NOT_FOUND', `the log holds no entry bundle ${tilePath(t)}`);
    const start = t.index * TILE_WIDTH;
    const leaves = log.store.leaves(start, start + t.width);
    res.type('application/octet-stream').setHeader('Cache-Control', 'private, max-age=31536000, immutable');
    res.send(Buffer.from(encodeEntryBundle(leaves.map((l) => l.bytes))));
  });

  // A body over ENTRY_INLINE_BYTES arrives unparsed (server/http/app.ts) and is read off the event loop.
  r.post('/entries', async (req, res) => {
    const deferred = req.deferredBody;
    const { appended, single } = deferred !== undefined ? await s.submitBytes(deferred) : await s.submitBody(req.body);
    const out = appended.map((a) => ({ index: a.index, leafHash: toHex(a.leafHash) }));
    res.status(201).json(single ? out[0] : { entries: out });
  });

  r.get('/participants', (_req, res) => {
    res.json({ participants: s.state.participants().map(publicParticipant) });
  });

  r.get('/participants/:gln', (req, res) => {
    assertGln(req.params.gln, 'gln');
    const p = s.state.participant(req.params.gln);
    if (p === undefined) throw new MedtrailError('PARTICIPANT_UNKNOWN', `${req.params.gln} is not enrolled`);
    res.json(publicParticipant(p));
  });

  r.get('/products/:gtin', (req, res) => {
    const p = s.state.product(normalizeGtin(req.params.gtin, 'gtin'));
    if (p === undefined) throw new MedtrailError('PRODUCT_UNKNOWN', `GTIN ${req.params.gtin} is not registered`);
    res.json({ gtin: p.gtin, name: p.name, form: p.form, strength: p.strength, packSize: p.packSize, manufacturer: p.manufacturer, index: p.index });
  });

  r.get('/shipments', (req, res) => {
    const to = query(req, 'to', true, (v, p) => assertGln(v, p))!;
    s.auth.requireParty(req, to);
    const open = query(req, 'open', false);
    if (open !== undefined && open !== '0' && open !== '1') throw new MedtrailError('BAD_INPUT', 'open must be 0 or 1', { fields: [{ path: 'open', code: 'BAD_INPUT', message: '0 or 1' }] });
    res.json({ shipments: s.state.shipmentsTo(to, open === '1') });
  });

  r.get('/held', (req, res) => {
    const gln = query(req, 'gln', true, (v, p) => assertGln(v, p))!;
    s.auth.requireParty(req, gln);
    const gtinRaw = query(req, 'gtin', false);
    const gtin = gtinRaw === undefined ? undefined : normalizeGtin(gtinRaw, 'gtin');
    const lot = query(req, 'lot', false, (v, p) => validateLot(v, p));
    const serial = query(req, 'serial', false, (v, p) => validateSerial(v, p));
    if ((lot !== undefined || serial !== undefined) && gtin === undefined) {
      throw new MedtrailError('BAD_INPUT', 'lot and serial need gtin', { fields: [{ path: 'gtin', code: 'BAD_INPUT', message: 'required with lot or serial' }] });
    }
    let packs: PackRow[];
    if (gtin !== undefined && serial !== undefined) {
      const p = s.state.pack(gtin, serial);
      packs = p !== undefined && p.holder === gln && p.state === 'active' && (lot === undefined || p.lot === lot) ? [p] : [];
    } else if (gtin !== undefined && lot !== undefined) {
      packs = s.state.lotPacksHeldBy(gln, gtin, lot);
    } else {
      packs = s.state.packsHeldBy(gln, intQuery(req, 'limit', 100, 1000), intQuery(req, 'offset', 0, 1e9)).filter((p) => gtin === undefined || p.gtin === gtin);
    }
    res.json({ packs, prev: [...new Set(packs.map((p) => p.lastHash))] });
  });

  return r;
}
