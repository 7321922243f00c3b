// A prescription and its dispenses as FHIR R4 resources (issue 16; docs/architecture.md, Prescriptions): one
// MedicationRequest (intent order; dispenseRequest with validityPeriod, numberOfRepeatsAllowed and the packs per
// fill; the dosage text) and one MedicationDispense per pack handed over (authorizingPrescription, the pharmacy
// as performer, the pack's GTIN and serial), in a Bundle of type collection. The patient is referenced only by
// the ledger's salted commitment, as a logical identifier: the export holds no more about the person than the
// ledger does. Pure.
import type { RxAnswer } from '../api/rx.js';
import { toHex, utf8 } from '../bytes.js';
import { sha256 } from '../crypto/hash.js';

export const FHIR_GTIN = 'https://www.gs1.org/gtin';
export const FHIR_GLN = 'https://www.gs1.org/gln';
export const FHIR_ATC = 'http://www.whocc.no/atc';
export const FHIR_RX_ID = 'urn:medtrail:prescription';
export const FHIR_PATIENT_COMMITMENT = 'urn:medtrail:patient-commitment';
export const FHIR_SERIAL = 'urn:medtrail:pack-serial';

type FhirJson = Record<string, unknown>;

/**
 * A Bundle entry's fullUrl and the references between entries (FHIR R4 bundle.html: an entry not kept on a FHIR
 * server is named by a `urn:uuid:`): the prescription id is 16 random bytes, written in the UUID form; a
 * dispense's from the SHA-256 of the prescription id and its leaf index.
 */
function uuidUrn(hex32: string): string {
  return `urn:uuid:${hex32.slice(0, 8)}-${hex32.slice(8, 12)}-${hex32.slice(12, 16)}-${hex32.slice(16, 20)}-${hex32.slice(20, 32)}`;
}

function dispenseUrn(rxId: string, index: number): string {
  return uuidUrn(toHex(sha256(utf8(`${rxId}/${index}`))).slice(0, 32));
}

function requestStatus(s: RxAnswer['status']): string {
  switch (s) {
    case 'open':
    case 'claimed':
    case 'not_yet_valid':
      return 'active';
    case 'completed':
      return 'completed';
    case 'cancelled':
      return 'cancelled';
    case 'expired':
      return 'stopped';
  }
}

function medicationConcept(rx: RxAnswer, gtin?: string, name?: string | null): FhirJson {
  const m = rx.medicine;
  if (gtin !== undefined || 'gtin' in m) {
    const code = gtin ?? ('gtin' in m ? m.gtin : '');
    return { coding: [{ system: FHIR_GTIN, code, ...(name !== null && name !== undefined ? { display: name } : {}) }], text: name ?? rx.medicineText };
  }
  return { ...(m.atc !== undefined ? { coding: [{ system: FHIR_ATC, code: m.atc }] } : {}), text: rx.medicineText };
}

function org(gln: string, name: string): FhirJson {
  return { identifier: { system: FHIR_GLN, value: gln }, display: name };
}

export function rxToFhir(rx: RxAnswer): FhirJson {
  const subject = rx.patient !== undefined ? { identifier: { system: FHIR_PATIENT_COMMITMENT, value: rx.patient } } : { display: 'patient (not disclosed)' };
  const request: FhirJson = {
    resourceType: 'MedicationRequest',
    id: rx.id,
    identifier: [{ system: FHIR_RX_ID, value: rx.id }],
    status: requestStatus(rx.status),
    ...(rx.status === 'cancelled' && rx.cancelReason !== null ? { statusReason: { text: rx.cancelReason } } : {}),
    intent: 'order',
    medicationCodeableConcept: medicationConcept(rx),
    subject,
    authoredOn: rx.at,
    requester: org(rx.prescriber.gln, rx.prescriber.name),
    dosageInstruction: [{ text: rx.dosage }],
    dispenseRequest: {
      validityPeriod: { start: rx.validFrom, end: rx.validUntil },
      numberOfRepeatsAllowed: rx.repeats,
      quantity: { value: rx.quantity, unit: 'pack' },
    },
  };
  const dispenses: FhirJson[] = rx.dispenses.map((d) => ({
    resourceType: 'MedicationDispense',
    id: `${rx.id}-${d.index}`,
    identifier: [{ system: FHIR_SERIAL, value: `${d.gtin}/${d.serial}` }],
    status: d.undone ? 'entered-in-error' : 'completed',
    medicationCodeableConcept: medicationConcept(rx, d.gtin, d.product),
    subject,
    performer: [{ actor: org(d.pharmacy.gln, d.pharmacy.name) }],
    authorizingPrescription: [{ reference: uuidUrn(rx.id), type: 'MedicationRequest' }],
    quantity: { value: 1, unit: 'pack' },
    whenHandedOver: d.at,
    dosageInstruction: [{ text: rx.dosage }],
  }));
  return {
    resourceType: 'Bundle',
    type: 'collection',
    entry: [{ fullUrl: uuidUrn(rx.id), resource: request }, ...rx.dispenses.map((d, i) => ({ fullUrl: dispenseUrn(rx.id, d.index), resource: dispenses[i]! }))],
  };
}
