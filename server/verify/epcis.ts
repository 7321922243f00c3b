// A pack's history as a GS1 EPCIS 2.0 JSON-LD document, so that the ledger speaks the language of the DSCSA
// and EU systems. One ObjectEvent per ledger entry touching the pack, with the Core Business Vocabulary
// (CBV 2.0) bare-string bizStep and disposition values the EPCIS 2.0 JSON-LD context maps to their URIs:
//
//   batch        ADD      commissioning / active
//   ship         OBSERVE  shipping      / in_transit
//   receive      OBSERVE  receiving     / in_progress
//   dispense     OBSERVE  dispensing    / dispensed
//   recall       OBSERVE  holding       / recalled
//   decommission DELETE   destroying / destroyed (destroyed); decommissioning / stolen (stolen),
//                         inactive (sample, free_sample, exported), non_sellable_other (locked)
//   undo         the dispensing event again, with an `errorDeclaration` (EPCIS 2.0's way of retracting an
//                event: a copy of the erroneous event, same eventID, reason `incorrect_data`)
//
// Identifiers use GS1 Digital Link URIs, which EPCIS 2.0 accepts alongside EPC URNs: the pack is
// https://id.gs1.org/01/<GTIN>/21/<serial>, a party or place https://id.gs1.org/414/<GLN>.
//
// eventID: the entry's ledger leaf hash as an RFC 6920 `ni:` URI, `ni:///sha-256;<hex>`. It deliberately
// carries no `?ver=CBV2.0`: that suffix names CBV's own event-hash algorithm (a hash of the event's canonical
// pre-hash string), and this hash is of the signed ledger entry, which is what a client can look up and prove
// (`medtrail:leafIndex` gives its index in the log).
//
// The public gets steps and times only; a participant in the chain (or a regulator) also gets bizLocation,
// readPoint and the source/destination parties of each hand-off.
import { toHex, utf8 } from '../../core/bytes.js';
import { sha256 } from '../../core/crypto/hash.js';
import { gs1DateToIso } from '../../core/gs1/identifiers.js';
import type { PackRow } from '../custody/state.js';
import type { ChainEvent } from './answer.js';

export const EPCIS_CONTEXT = 'https://ref.gs1.org/standards/epcis/epcis-context.jsonld';
export const MEDTRAIL_NS = 'https://medtrail.dev/ns/epcis#';

const DL = 'https://id.gs1.org';

export function sgtinUri(gtin: string, serial: string): string {
  return `${DL}/01/${gtin}/21/${encodeURIComponent(serial).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)}`;
}

export function glnUri(gln: string): string {
  return `${DL}/414/${gln}`;
}

function eventId(leafHash: string): string {
  return `ni:///sha-256;${leafHash}`;
}

/** A public event ID: unique per event, but not the leaf hash (which would point at the entry in the log). */
function publicEventId(leafHash: string): string {
  return `ni:///sha-256;${toHex(sha256(utf8(`medtrail/v1/public-event\n${leafHash}`)))}`;
}

const DECOMMISSION: Record<string, { bizStep: string; disposition: string }> = {
  destroyed: { bizStep: 'destroying', disposition: 'destroyed' },
  stolen: { bizStep: 'decommissioning', disposition: 'stolen' },
  sample: { bizStep: 'decommissioning', disposition: 'inactive' },
  free_sample: { bizStep: 'decommissioning', disposition: 'inactive' },
  exported: { bizStep: 'decommissioning', disposition: 'inactive' },
  locked: { bizStep: 'decommissioning', disposition: 'non_sellable_other' },
};

type Json = Record<string, unknown>;

/** The EPCISDocument for one pack; `full` adds locations and parties. */
export function epcisDocument(pack: PackRow, events: readonly ChainEvent[], full: boolean, now: Date): Json {
  const epc = sgtinUri(pack.gtin, pack.serial);
  const eventList: Json[] = [];
  let lastDispense: Json | undefined;
  for (const e of events) {
    // The public sees the day of each step and an event ID that names no leaf; parties in the chain see the
    // entry's exact time, its leaf hash as the event ID and its index in the log (docs/architecture.md,
    // Signed requests: who supplied whom, and when exactly, is theirs to know).
    const base: Json = full
      ? { type: 'ObjectEvent', eventTime: e.at, eventTimeZoneOffset: '+00:00', eventID: eventId(e.leafHash), epcList: [epc], 'medtrail:leafIndex': e.index }
      : { type: 'ObjectEvent', eventTime: `${e.at.slice(0, 10)}T00:00:00.000Z`, eventTimeZoneOffset: '+00:00', eventID: publicEventId(e.leafHash), epcList: [epc] };
    const where = (gln: string | null | undefined): Json => (full && gln ? { readPoint: { id: glnUri(gln) }, bizLocation: { id: glnUri(gln) } } : {});
    const parties = (from: string | null, to: string | null): Json =>
      full && from !== null && to !== null
        ? {
            sourceList: [{ type: 'owning_party', source: glnUri(from) }],
            destinationList: [{ type: 'owning_party', destination: glnUri(to) }],
          }
        : {};
    switch (e.kind) {
      case 'batch':
        eventList.push({
          ...base,
          action: 'ADD',
          bizStep: 'commissioning',
          disposition: 'active',
          ...where(e.signer),
          ilmd: { 'cbvmda:lotNumber': pack.lot, 'cbvmda:itemExpirationDate': isoDate(pack.expiry) },
        });
        break;
      case 'ship':
        eventList.push({ ...base, action: 'OBSERVE', bizStep: 'shipping', disposition: 'in_transit', ...where(e.signer), ...parties(e.signer, e.counterparty) });
        break;
      case 'receive':
        eventList.push({ ...base, action: 'OBSERVE', bizStep: 'receiving', disposition: 'in_progress', ...where(e.signer), ...parties(e.counterparty, e.signer) });
        break;
      case 'dispense':
        lastDispense = { ...base, action: 'OBSERVE', bizStep: 'dispensing', disposition: 'dispensed', ...where(e.signer) };
        eventList.push(lastDispense);
        break;
      case 'undo':
        if (lastDispense !== undefined) {
          eventList.push({
            ...lastDispense,
            errorDeclaration: full
              ? { declarationTime: e.at, reason: 'incorrect_data', 'medtrail:leafIndex': e.index, 'medtrail:leafHash': e.leafHash }
              : { declarationTime: `${e.at.slice(0, 10)}T00:00:00.000Z`, reason: 'incorrect_data' },
          });
          lastDispense = undefined;
        }
        break;
      case 'recall':
        eventList.push({ ...base, action: 'OBSERVE', bizStep: 'holding', disposition: 'recalled' });
        break;
      case 'decommission': {
        const m = DECOMMISSION[pack.state] ?? { bizStep: 'decommissioning', disposition: 'inactive' };
        eventList.push({ ...base, action: 'DELETE', ...m, ...where(e.signer) });
        break;
      }
      default:
        break;
    }
  }
  return {
    '@context': [EPCIS_CONTEXT, { medtrail: MEDTRAIL_NS }],
    type: 'EPCISDocument',
    schemaVersion: '2.0',
    creationDate: now.toISOString(),
    epcisBody: { eventList },
  };
}

function isoDate(yymmdd: string): string {
  try {
    return gs1DateToIso(yymmdd);
  } catch {
    return yymmdd;
  }
}
