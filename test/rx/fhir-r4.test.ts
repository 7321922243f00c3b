// core/rx/fhir.ts held to FHIR R4's own tables (test/support/fhir-r4.ts, test/vectors/fhir/r4-rules.json): a
// GTIN prescription with dispenses (one undone), a substance prescription cancelled, one expired; and the
// checker itself shown to catch what R4 forbids, so a pass means something. The real server's export is held to
// the same check in test/rx/rx.test.ts.
import { describe, expect, it } from 'vitest';
import type { RxAnswer } from '../../core/api/rx.js';
import { rxToFhir } from '../../core/rx/fhir.js';
import { r4Problems } from '../support/fhir-r4.js';

const base: RxAnswer = {
  id: '0123456789abcdef0123456789abcdef',
  index: 12,
  leafHash: 'ab'.repeat(32),
  at: '2026-11-29T06:00:00.000Z',
  prescriber: { gln: '4012345000009', name: 'Dr. Beispiel', region: 'DE-BY', type: 'doctor' },
  medicine: { gtin: '04012345000019' },
  medicineText: 'Amoxicillin 500 mg',
  quantity: 2,
  repeats: 1,
  dosage: '1 capsule three times a day',
  validFrom: '2026-11-29',
  validUntil: '2026-12-27',
  status: 'completed',
  total: 4,
  dispensed: 2,
  claimedBy: null,
  cancelReason: null,
  dispenses: [
    { index: 13, at: '2026-11-29T07:00:00.000Z', gtin: '04012345000019', serial: 'A1', product: 'Amoxicillin', pharmacy: { gln: '4012345000016', name: 'Apotheke' }, undone: false },
    { index: 15, at: '2026-11-29T07:05:00.000Z', gtin: '04012345000019', serial: 'A2', product: null, pharmacy: { gln: '4012345000016', name: 'Apotheke' }, undone: true },
  ],
  patient: 'cd'.repeat(32),
};

describe('FHIR R4 export', () => {
  it('a dispensed GTIN prescription: no problem by the R4 tables; dispenses point at the request inside the bundle', () => {
    const b = rxToFhir(base);
    expect(r4Problems(b)).toEqual([]);
    const [req, d1, d2] = (b['entry'] as { fullUrl: string; resource: Record<string, unknown> }[]);
    expect(req!.fullUrl).toBe('urn:uuid:01234567-89ab-cdef-0123-456789abcdef');
    expect(d1!.resource['authorizingPrescription']).toEqual([{ reference: req!.fullUrl, type: 'MedicationRequest' }]);
    expect(d2!.resource['status']).toBe('entered-in-error');
    expect(new Set([req!.fullUrl, d1!.fullUrl, d2!.fullUrl]).size).toBe(3);
  });

  it('a substance prescription, cancelled with a reason, and one expired: no problem either', () => {
    const sub = { ...base, medicine: { substance: 'Amoxicillin', strength: '500 mg', form: 'capsule', atc: 'J01CA04' }, status: 'cancelled' as const, cancelReason: 'wrong dose', dispenses: [] };
    expect(r4Problems(rxToFhir(sub))).toEqual([]);
    expect(r4Problems(rxToFhir({ ...base, status: 'expired', dispenses: [] }))).toEqual([]);
    expect(r4Problems(rxToFhir({ ...base, patient: undefined }))).toEqual([]);
  });

  it('the check catches what R4 forbids: an unknown element, a status outside the value set, a dangling reference, a bad fullUrl', () => {
    const b = rxToFhir(base);
    const entries = b['entry'] as { fullUrl: string; resource: Record<string, unknown> }[];
    entries[0]!.resource['patientName'] = 'x';
    entries[0]!.resource['status'] = 'open';
    entries[1]!.resource['authorizingPrescription'] = [{ reference: 'MedicationRequest/0123' }];
    entries[2]!.fullUrl = 'urn:uuid:0123-45';
    const problems = r4Problems(b);
    expect(problems.some((p) => p.includes('patientName'))).toBe(true);
    expect(problems.some((p) => p.includes('status open'))).toBe(true);
    expect(problems.some((p) => p.includes('does not resolve'))).toBe(true);
    expect(problems.some((p) => p.includes('not a urn:uuid'))).toBe(true);
  });
});
