// A FHIR R4 conformance check of what medtrail exports (core/rx/fhir.ts), by the specification's own tables
// (test/vectors/fhir/r4-rules.json, their source named there): elements each resource may carry, required
// elements, required value-set codes, Reference and Bundle entry members, id / dateTime / urn:uuid forms, unique
// fullUrls (bdl-7) and references that resolve inside the bundle. Returns the problems found, one line each.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './tmp.js';

interface Rules {
  MedicationRequest: { elements: string[]; status: string[]; intent: string[]; dispenseRequest: string[] };
  MedicationDispense: { elements: string[]; status: string[]; performer: string[] };
  Bundle: { type: string[]; entry: string[] };
  Reference: string[];
  id: string;
  uuidUrn: string;
  dateTime: string;
}

export const R4: Rules = JSON.parse(readFileSync(join(REPO_ROOT, 'test/vectors/fhir/r4-rules.json'), 'utf8')) as Rules;

type J = Record<string, unknown>;
const isObj = (v: unknown): v is J => typeof v === 'object' && v !== null && !Array.isArray(v);

export function r4Problems(bundle: unknown): string[] {
  const out: string[] = [];
  const idRe = new RegExp(R4.id);
  const uuidRe = new RegExp(R4.uuidUrn);
  const dtRe = new RegExp(R4.dateTime);
  if (!isObj(bundle) || bundle['resourceType'] !== 'Bundle') return ['not a Bundle'];
  if (!R4.Bundle.type.includes(String(bundle['type']))) out.push(`Bundle.type ${String(bundle['type'])}`);
  const entries = Array.isArray(bundle['entry']) ? bundle['entry'] : [];
  const urls = new Set<string>();
  const refs: string[] = [];
  const reference = (v: unknown, where: string): void => {
    if (!isObj(v)) return void out.push(`${where}: a Reference must be an object`);
    for (const k of Object.keys(v)) if (!R4.Reference.includes(k)) out.push(`${where}.${k}: not a member of Reference`);
    if (v['reference'] === undefined && v['identifier'] === undefined && v['display'] === undefined) out.push(`${where}: ref-1, a Reference needs reference, identifier or display`);
    if (typeof v['reference'] === 'string') refs.push(`${where} -> ${v['reference']}`);
  };
  const dateTime = (v: unknown, where: string): void => {
    if (v !== undefined && (typeof v !== 'string' || !dtRe.test(v))) out.push(`${where}: not a FHIR dateTime (${String(v)})`);
  };
  entries.forEach((e: unknown, i: number) => {
    const where = `entry[${i}]`;
    if (!isObj(e)) return void out.push(`${where}: not an object`);
    for (const k of Object.keys(e)) if (!R4.Bundle.entry.includes(k)) out.push(`${where}.${k}: not a member of Bundle.entry`);
    const url = String(e['fullUrl']);
    if (!uuidRe.test(url)) out.push(`${where}.fullUrl ${url}: not a urn:uuid`);
    if (urls.has(url)) out.push(`${where}.fullUrl ${url}: bdl-7, fullUrl must be unique`);
    urls.add(url);
    const r = e['resource'];
    if (!isObj(r)) return void out.push(`${where}.resource: missing`);
    const type = String(r['resourceType']);
    if (type !== 'MedicationRequest' && type !== 'MedicationDispense') return void out.push(`${where}: unexpected ${type}`);
    const rules = R4[type];
    for (const k of Object.keys(r)) if (!rules.elements.includes(k)) out.push(`${type}.${k}: not an element of ${type}`);
    if (typeof r['id'] !== 'string' || !idRe.test(r['id'])) out.push(`${type}.id ${String(r['id'])}: not a FHIR id`);
    if (!rules.status.includes(String(r['status']))) out.push(`${type}.status ${String(r['status'])}: not in the required value set`);
    if (r['medicationCodeableConcept'] === undefined && r['medicationReference'] === undefined) out.push(`${type}.medication[x]: required`);
    if (r['subject'] !== undefined) reference(r['subject'], `${type}.subject`);
    if (type === 'MedicationRequest') {
      const mr = R4.MedicationRequest;
      if (!mr.intent.includes(String(r['intent']))) out.push(`MedicationRequest.intent ${String(r['intent'])}: not in the required value set`);
      if (r['subject'] === undefined) out.push('MedicationRequest.subject: required (1..1)');
      dateTime(r['authoredOn'], 'MedicationRequest.authoredOn');
      if (r['requester'] !== undefined) reference(r['requester'], 'MedicationRequest.requester');
      const dr = r['dispenseRequest'];
      if (isObj(dr)) {
        for (const k of Object.keys(dr)) if (!mr.dispenseRequest.includes(k)) out.push(`MedicationRequest.dispenseRequest.${k}: not an element`);
        const n = dr['numberOfRepeatsAllowed'];
        if (n !== undefined && !(Number.isInteger(n) && Number(n) >= 0)) out.push('numberOfRepeatsAllowed: not an unsignedInt');
        const p = dr['validityPeriod'];
        if (isObj(p)) {
          dateTime(p['start'], 'validityPeriod.start');
          dateTime(p['end'], 'validityPeriod.end');
          if (typeof p['start'] === 'string' && typeof p['end'] === 'string' && p['start'] > p['end']) out.push('validityPeriod: per-1, start after end');
        }
      }
    } else {
      dateTime(r['whenHandedOver'], 'MedicationDispense.whenHandedOver');
      const perf = Array.isArray(r['performer']) ? r['performer'] : [];
      perf.forEach((p: unknown, k: number) => {
        if (!isObj(p) || p['actor'] === undefined) out.push(`MedicationDispense.performer[${k}].actor: required`);
        else {
          for (const m of Object.keys(p)) if (!R4.MedicationDispense.performer.includes(m)) out.push(`MedicationDispense.performer.${m}: not an element`);
          reference(p['actor'], `MedicationDispense.performer[${k}].actor`);
        }
      });
      const auth = Array.isArray(r['authorizingPrescription']) ? r['authorizingPrescription'] : [];
      auth.forEach((a: unknown, k: number) => reference(a, `MedicationDispense.authorizingPrescription[${k}]`));
    }
  });
  for (const r of refs) {
    const target = r.slice(r.indexOf(' -> ') + 4);
    if (!urls.has(target)) out.push(`${r}: does not resolve to an entry of the bundle`);
  }
  return out;
}
