// The console's prescription cards (issue 16; docs/architecture.md, Prescriptions). A prescriber writes a
// prescription (the id, the salt, the access code and the signature are made here; the patient's details leave
// the page only to be sealed by the server) and sees its own; a pharmacy claims with the patient's token and
// dispenses scanned packs against a claimed prescription; a regulator reads the reports as a table and a chart.
import { toBase64 } from '../../core/bytes.js';
import { buildEntry as buildOne } from '../../core/entry/builder.js';
import type { Medicine, PrescribeBody } from '../../core/entry/bodies.js';
import { parseRxCreated, parseRxList, parseRxReport, RX_REPORT_DIMENSIONS, type RxAnswer, type RxReportAnswer, type RxReportDimension } from '../../core/api/rx.js';
import { dayOf, newAccessCode, newRxId, newSalt, parseToken, patientCommitment, rxClaimMessage, signWithCode, tokenKeyOf, tokenUrl } from '../../core/rx/rx.js';
import { reportCsv } from '../../core/rx/report.js';
import type { ScannedPack } from '../common/code-entry.js';
import { buildEntry, heldPack, submit, type Session } from './console-actions.js';
import { getParsed, postJson } from './api.js';
import { h } from './dom.js';
import { qrSvg } from './qr.js';

export interface RxUi {
  /** Runs an action, shows its message or refusal, then refreshes the cards. */
  act(f: () => Promise<string>): Promise<void>;
  scanField(id: string, label: string, onPack: (p: ScannedPack) => void): HTMLElement;
}

function field(id: string, label: string, attrs: Record<string, string> = {}): { input: HTMLInputElement; el: HTMLElement } {
  const input = h('input', { id, autocomplete: 'off', ...attrs });
  return { input, el: h('div', {}, h('label', { for: id }, label), input) };
}

function rxTable(list: RxAnswer[], extra?: (r: RxAnswer) => HTMLElement | null): HTMLElement {
  if (list.length === 0) return h('p', {}, 'None.');
  return h('table', {},
    h('thead', {}, h('tr', {}, ...['Prescription', 'Medicine', 'Status', 'Dispensed', 'Valid until', ''].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, ...list.map((r) => h('tr', { 'data-rx': r.id }, h('td', {}, h('code', {}, r.id.slice(0, 8))), h('td', {}, r.medicineText), h('td', {}, r.status), h('td', {}, `${r.dispensed} / ${r.total}`), h('td', {}, r.validUntil), h('td', {}, extra?.(r) ?? '')))));
}

// ---- prescriber ---------------------------------------------------------------------------------------------

export function prescriberCards(s: Session, ui: RxUi): HTMLElement[] {
  const f = {
    pid: field('rx-patient-id', 'Patient identifier (insurance number) — sealed, never on the ledger'),
    name: field('rx-patient-name', 'Patient name — sealed, never on the ledger'),
    birth: field('rx-birth', 'Birth date (YYYY-MM-DD) — sealed', { inputmode: 'numeric' }),
    gtin: field('rx-gtin', 'GTIN (or leave empty and give the substance)', { inputmode: 'numeric' }),
    substance: field('rx-substance', 'Active substance (INN)'),
    strength: field('rx-strength', 'Strength, e.g. 500 mg'),
    form: field('rx-dosage-form', 'Form, e.g. capsule'),
    atc: field('rx-atc', 'ATC code (optional)'),
    quantity: field('rx-quantity', 'Packs per fill', { inputmode: 'numeric', value: '1' }),
    repeats: field('rx-repeats', 'Repeats', { inputmode: 'numeric', value: '0' }),
    dosage: field('rx-dosage', 'Dosage instruction (on the ledger: nothing about the patient here)'),
    note: field('rx-note', 'Note for the pharmacist about the patient (optional) — sealed, never on the ledger'),
    until: field('rx-until', 'Valid until (YYYY-MM-DD)', { value: dayOf(Date.now() + 28 * 86_400_000) }),
  };
  const token = h('div', { id: 'rx-new-token' });
  const mine = h('div', { id: 'rx-mine' });
  const form = h('form', { id: 'rx-form' }, ...Object.values(f).map((x) => x.el), h('button', { type: 'submit' }, 'Sign prescription'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void ui.act(async () => {
      const v = (x: { input: HTMLInputElement }): string => x.input.value.trim();
      const medicine: Medicine = v(f.gtin) !== '' ? { gtin: v(f.gtin) } : { substance: v(f.substance), strength: v(f.strength), form: v(f.form), ...(v(f.atc) !== '' ? { atc: v(f.atc) } : {}) };
      const id = newRxId();
      const code = newAccessCode();
      const salt = newSalt();
      const body: PrescribeBody = {
        id,
        patient: patientCommitment(salt, v(f.pid)),
        medicine,
        quantity: Number(v(f.quantity)),
        dosage: v(f.dosage),
        validFrom: dayOf(Date.now()),
        validUntil: v(f.until),
        repeats: Number(v(f.repeats)),
        token: toBase64(tokenKeyOf(code)),
      };
      const entry = buildEntry(s, 'prescribe', body, []);
      const patient = { id: v(f.pid), ...(v(f.name) !== '' ? { name: v(f.name) } : {}), ...(v(f.birth) !== '' ? { birthDate: v(f.birth) } : {}) };
      const r = parseRxCreated(await postJson('/api/v1/rx', { entry, details: { salt, patient, ...(v(f.note) !== '' ? { note: v(f.note) } : {}) } }, s));
      const link = tokenUrl(location.origin, id, code);
      token.replaceChildren(h('h3', {}, 'Token for the patient (print it or send it to their phone; it is shown once)'), qrSvg(link, 'prescription token'), h('p', { class: 'hint' }, h('code', { id: 'rx-token-link' }, link)));
      form.reset();
      return `Prescription ${id.slice(0, 8)} signed (entry #${r.index}).`;
    });
  });
  const refresh = async (): Promise<void> => {
    const list = await getParsed(`/api/v1/rx?prescriber=${s.gln}`, parseRxList, s);
    mine.replaceChildren(rxTable(list.prescriptions, (r) => {
      if (r.status !== 'open' && r.status !== 'claimed' && r.status !== 'not_yet_valid') return null;
      const b = h('button', { type: 'button', class: 'secondary' }, 'Cancel');
      b.addEventListener('click', () => void ui.act(async () => {
        const x = await submit(buildEntry(s, 'rx_cancel', { id: r.id, reason: 'cancelled by the prescriber' }, []));
        return `Prescription ${r.id.slice(0, 8)} cancelled (entry #${x.index}).`;
      }));
      return b;
    }));
  };
  void refresh().catch(() => undefined);
  const card1 = h('section', { class: 'card', 'aria-labelledby': 'rx-write-head' }, h('h2', { id: 'rx-write-head' }, 'Write a prescription'), form, token);
  const card2 = h('section', { class: 'card', 'aria-labelledby': 'rx-mine-head', 'data-refresh': 'rx' }, h('h2', { id: 'rx-mine-head' }, 'My prescriptions'), mine);
  card2.addEventListener('refresh', () => void refresh().catch(() => undefined));
  return [card1, card2];
}

// ---- pharmacy -----------------------------------------------------------------------------------------------

export function pharmacyRxCard(s: Session, ui: RxUi): HTMLElement {
  const tok = field('rx-claim-token', 'Patient token (scan the QR code, or type the link or code)');
  const claimForm = h('form', {}, tok.el, h('button', { type: 'submit' }, 'Claim prescription'));
  const claimed = h('div', { id: 'rx-claimed' });
  const pick = h('select', { id: 'rx-pick' });
  claimForm.addEventListener('submit', (e) => {
    e.preventDefault();
    void ui.act(async () => {
      const t = parseToken(tok.input.value);
      const at = new Date();
      const tokenSig = toBase64(signWithCode(t.code, rxClaimMessage(s.log, t.id, s.gln, at.toISOString())));
      const r = await submit(buildOne('rx_claim', s, { id: t.id, tokenSig }, [], { at }));
      tok.input.value = '';
      return `Prescription ${t.id.slice(0, 8)} claimed (entry #${r.index}).`;
    });
  });
  const refresh = async (): Promise<void> => {
    const list = (await getParsed(`/api/v1/rx?claimedBy=${s.gln}`, parseRxList, s)).prescriptions;
    claimed.replaceChildren(rxTable(list));
    // The list is drawn anew after every action: the prescription the pharmacist chose stays chosen while it is
    // still claimed here (a refused scan must not send them back to choose it again).
    const chosen = pick.value;
    pick.replaceChildren(h('option', { value: '' }, 'Choose a claimed prescription'), ...list.map((r) => h('option', { value: r.id }, `${r.id.slice(0, 8)} · ${r.medicineText} · ${r.total - r.dispensed} left`)));
    if (list.some((r) => r.id === chosen)) pick.value = chosen;
  };
  void refresh().catch(() => undefined);
  const scan = ui.scanField('rx-dispense-scan', 'Scan the pack to dispense against it', (p) => void ui.act(async () => {
    if (pick.value === '') throw new Error('choose the prescription first');
    const row = await heldPack(s, p.gtin, p.serial);
    if (row === null) throw new Error(`you do not hold ${p.gtin} ${p.serial} (or it is not active)`);
    const r = await submit(buildEntry(s, 'dispense', { gtin: p.gtin, serial: p.serial, rx: pick.value }, [row.lastHash]));
    return `Pack ${p.serial} dispensed against prescription ${pick.value.slice(0, 8)} (entry #${r.index}).`;
  }));
  const card = h('section', { class: 'card', 'aria-labelledby': 'rx-pharm-head', 'data-refresh': 'rx' }, h('h2', { id: 'rx-pharm-head' }, 'Prescriptions'), claimForm, h('h3', {}, 'Claimed here'), claimed, h('label', { for: 'rx-pick' }, 'Dispense against'), pick, scan);
  card.addEventListener('refresh', () => void refresh().catch(() => undefined));
  return card;
}

// ---- regulator ----------------------------------------------------------------------------------------------

const SVG = 'http://www.w3.org/2000/svg';

function svgEl(tag: string, attrs: Record<string, string>, text?: string): SVGElement {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

/** Horizontal bars of packs prescribed and dispensed per row; a suppressed count is drawn as a hatched stub. */
export function reportChart(r: RxReportAnswer): SVGSVGElement {
  const label = (row: RxReportAnswer['rows'][number]): string => r.by.map((d) => row[d] ?? '').join(' · ') || 'all';
  const max = Math.max(1, ...r.rows.map((x) => Math.max(x.packsPrescribed ?? 0, x.packsDispensed ?? 0)));
  const rowH = 34;
  const W = 640;
  const left = 190;
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${W} ${rowH * r.rows.length + 30}`);
  svg.setAttribute('class', 'chart');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', `packs prescribed and dispensed by ${r.by.join(', ')}`);
  r.rows.forEach((row, i) => {
    const y = i * rowH + 4;
    svg.append(svgEl('text', { x: '0', y: String(y + 18), class: 'chart-label' }, label(row)));
    const bar = (n: number | null, dy: number, cls: string): void => {
      const w = n === null ? 6 : Math.max(2, ((W - left - 60) * n) / max);
      svg.append(svgEl('rect', { x: String(left), y: String(y + dy), width: String(w), height: '12', class: n === null ? 'chart-suppressed' : cls }));
      svg.append(svgEl('text', { x: String(left + w + 6), y: String(y + dy + 11), class: 'chart-value' }, n === null ? 'suppressed' : String(n)));
    };
    bar(row.packsPrescribed, 2, 'chart-prescribed');
    bar(row.packsDispensed, 16, 'chart-dispensed');
  });
  const ly = rowH * r.rows.length + 16;
  svg.append(svgEl('rect', { x: String(left), y: String(ly), width: '12', height: '12', class: 'chart-prescribed' }), svgEl('text', { x: String(left + 18), y: String(ly + 11), class: 'chart-value' }, 'prescribed'));
  svg.append(svgEl('rect', { x: String(left + 120), y: String(ly), width: '12', height: '12', class: 'chart-dispensed' }), svgEl('text', { x: String(left + 138), y: String(ly + 11), class: 'chart-value' }, 'dispensed (packs)'));
  return svg;
}

export function reportCard(s: Session, ui: RxUi): HTMLElement {
  const boxes = RX_REPORT_DIMENSIONS.map((d) => {
    const input = h('input', { type: 'checkbox', id: `rx-by-${d}`, value: d, checked: d === 'region' || d === 'substance' });
    return { d, input, el: h('label', { for: `rx-by-${d}`, class: 'check' }, input, ` ${d === 'prescriberType' ? 'prescriber type' : d}`) };
  });
  const out = h('div', { id: 'rx-report' });
  const run = h('button', { type: 'button', id: 'rx-report-run' }, 'Show report');
  const csv = h('button', { type: 'button', class: 'secondary', id: 'rx-report-csv' }, 'As CSV');
  let last: RxReportAnswer | null = null;
  const by = (): RxReportDimension[] => boxes.filter((b) => b.input.checked).map((b) => b.d);
  run.addEventListener('click', () => void ui.act(async () => {
    const r = await getParsed(`/api/v1/rx/reports?by=${by().join(',')}`, parseRxReport, s);
    last = r;
    out.replaceChildren(
      reportChart(r),
      h('table', {},
        h('thead', {}, h('tr', {}, ...[...r.by, 'prescriptions', 'packs prescribed', 'packs dispensed'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, ...r.rows.map((row) => h('tr', {}, ...r.by.map((d) => h('td', {}, row[d] ?? '')), ...[row.prescriptions, row.packsPrescribed, row.packsDispensed].map((n) => h('td', {}, n === null ? `< ${r.threshold}` : String(n))))))),
      h('p', { class: 'hint' }, `Aggregates only; counts under ${r.threshold} are suppressed so that no cell can single out a patient.`),
    );
    return `Report: ${r.rows.length} rows.`;
  }));
  csv.addEventListener('click', () => {
    if (last !== null) out.append(h('pre', { class: 'csv' }, reportCsv(last)));
  });
  return h('section', { class: 'card', 'aria-labelledby': 'rx-report-head' }, h('h2', { id: 'rx-report-head' }, 'Prescription reports'), h('div', { class: 'row' }, ...boxes.map((b) => b.el)), run, csv, out);
}
