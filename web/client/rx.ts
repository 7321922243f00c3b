// The patient's prescription page (issue 16; docs/architecture.md, Prescriptions), at /rx/<id>#ac=<code>: the
// token's link. The access code stays in the fragment (never sent to a server); the page signs its view request
// with it (core/rx/rx.ts rxViewMessage), then checks the evidence itself (web/common/rx-evidence.ts) against
// the log key pinned into the page, and shows the prescription, what was dispensed against it, and the token as a
// QR code to show at the pharmacy. Without a code it asks for one.
import { isMedtrailError } from '../../core/errors.js';
import { parseToken } from '../../core/rx/rx.js';
import type { RxAnswer } from '../../core/api/rx.js';
import { splitVerifierKey } from '../../core/log/checkpoint.js';
import { LedgerClient } from '../../client/ledger-client.js';
import { checkRxEvidence, type RxCheckId } from '../common/rx-evidence.js';
import { $, h, icon } from './dom.js';
import { qrSvg } from './qr.js';

const vkey = document.querySelector<HTMLMetaElement>('meta[name="medtrail-log-key"]')?.content ?? '';

const STATUS: Record<RxAnswer['status'], { text: string; tone: 'ok' | 'warn' | 'bad' }> = {
  open: { text: 'Ready to be dispensed', tone: 'ok' },
  claimed: { text: 'Being dispensed by a pharmacy', tone: 'warn' },
  completed: { text: 'Fully dispensed', tone: 'warn' },
  cancelled: { text: 'Cancelled by the prescriber', tone: 'bad' },
  expired: { text: 'Expired', tone: 'bad' },
  not_yet_valid: { text: 'Not valid yet', tone: 'warn' },
};

const CHECKS: Record<RxCheckId, string> = {
  checkpoint: 'The ledger’s signed checkpoint (key pinned in this page)',
  rx_in_log: 'The prescription is in the ledger',
  rx_token: 'It is the prescription your code belongs to',
  prescriber_key: 'The prescriber is enrolled in the ledger',
  rx_signature: 'The prescriber signed it',
};

function fmt(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleDateString(undefined, { year: 'numeric', month: 'long', day: 'numeric' });
}

function codeForm(): HTMLElement {
  const input = h('input', { id: 'rx-token', autocomplete: 'off', spellcheck: 'false' });
  const form = h('form', { class: 'card' }, h('h2', {}, 'Open your prescription'), h('label', { for: 'rx-token' }, 'Your prescription token (the link or the code printed under the QR code)'), input, h('button', { type: 'submit' }, 'Open'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    try {
      const t = parseToken(input.value);
      location.replace(`/rx/${t.id}#ac=${t.code}`);
      void show(t.id, t.code);
    } catch (err) {
      $('rx').replaceChildren(form, h('p', { class: 'error', role: 'alert' }, isMedtrailError(err) ? err.message : String(err)));
    }
  });
  return form;
}

async function show(id: string, code: string): Promise<void> {
  const out = $('rx');
  out.replaceChildren(h('p', { class: 'checking', role: 'status' }, 'Checking your prescription…'));
  let log: string;
  try {
    log = splitVerifierKey(vkey).name;
  } catch {
    out.replaceChildren(h('p', { class: 'error', role: 'alert' }, 'This page has no ledger key pinned: it cannot check anything.'));
    return;
  }
  const client = new LedgerClient(location.origin, { log, fetchInit: { credentials: 'omit', cache: 'no-store' } });
  let a;
  try {
    a = await client.rxView(id, code);
  } catch (e) {
    const c = isMedtrailError(e) ? e.code : 'ERROR';
    const text = c === 'RX_ACCESS_DENIED' ? 'This code does not open a prescription. Check the link or the code.' : c === 'RX_ACCESS_LIMITED' ? 'Too many wrong codes from here. Please wait a while and try again.' : `The prescription could not be loaded (${c}).`;
    out.replaceChildren(h('div', { class: 'verdict tone-bad', role: 'alert' }, icon('bad'), h('div', {}, h('h2', {}, 'Not opened'), h('p', {}, text))), codeForm());
    return;
  }
  const ev = checkRxEvidence(vkey, id, code, a);
  const p = a.prescription;
  const st = ev.proven ? STATUS[p.status] : { text: 'Not confirmed: the evidence does not hold', tone: 'bad' as const };
  const left = p.total - p.dispensed;
  out.replaceChildren(
    h('section', { class: `verdict tone-${st.tone}`, id: 'rx-status', 'data-status': ev.proven ? p.status : 'unproven' }, icon(st.tone), h('div', {},
      h('h2', {}, st.text),
      h('p', {}, `${p.dispensed} of ${p.total} pack${p.total === 1 ? '' : 's'} dispensed${left > 0 && (p.status === 'open' || p.status === 'claimed') ? `; ${left} left` : ''}.`))),
    h('section', { class: 'card', 'aria-labelledby': 'rx-med' },
      h('p', { class: 'medicine', id: 'rx-med' }, p.medicineText),
      h('dl', { class: 'facts' },
        h('dt', {}, 'Dosage'), h('dd', {}, p.dosage),
        h('dt', {}, 'Quantity'), h('dd', {}, `${p.quantity} pack${p.quantity === 1 ? '' : 's'}${p.repeats > 0 ? `, ${p.repeats} repeat${p.repeats === 1 ? '' : 's'}` : ''}`),
        h('dt', {}, 'Valid'), h('dd', {}, `${fmt(p.validFrom)} – ${fmt(p.validUntil)}`),
        h('dt', {}, 'Prescribed by'), h('dd', {}, `${p.prescriber.name}, ${fmt(p.at)}`),
        ...(p.claimedBy !== null ? [h('dt', {}, 'At the pharmacy'), h('dd', {}, p.claimedBy.name)] : []),
        ...(p.cancelReason !== null ? [h('dt', {}, 'Cancelled'), h('dd', {}, p.cancelReason)] : []))),
    h('section', { class: 'card', 'aria-labelledby': 'rx-disp-head' }, h('h2', { id: 'rx-disp-head' }, 'Dispensed'),
      p.dispenses.length === 0 ? h('p', {}, 'Nothing yet.') : h('ul', { class: 'journey', id: 'rx-dispenses' }, ...p.dispenses.map((d) =>
        h('li', {}, h('span', {}, h('span', { class: 'step' }, `${d.product ?? d.gtin}${d.undone ? ' (taken back)' : ''}`), h('br', {}), `${d.pharmacy.name} · pack ${d.serial}`), h('time', { datetime: d.at }, fmt(d.at)))))),
    ...(ev.proven && (p.status === 'open' || p.status === 'claimed' || p.status === 'not_yet_valid')
      ? [h('section', { class: 'card token', 'aria-labelledby': 'rx-token-head' }, h('h2', { id: 'rx-token-head' }, 'Show this at the pharmacy'), qrSvg(location.href, 'your prescription token'),
          h('p', { class: 'hint' }, 'Anyone with this code can see the prescription and have it dispensed: show it only to your pharmacy.'))]
      : []),
    h('section', { class: 'card checks', 'aria-labelledby': 'rx-checks-head' }, h('h2', { id: 'rx-checks-head' }, 'Checked on this device'),
      h('ul', {}, ...ev.checks.map((c) => h('li', { class: c.ok ? 'check-ok' : 'check-failed', 'data-check': c.id }, h('span', { class: 'mark', 'aria-hidden': 'true' }, c.ok ? '✓' : '✗'), h('span', {}, `${CHECKS[c.id]}${c.ok ? '' : ` — failed (${c.code ?? ''})`}`)))),
      h('p', { class: 'vkey' }, 'Ledger key: ', h('code', {}, vkey))),
  );
}

function main(): void {
  document.title = 'Your prescription — medtrail';
  $('app').replaceChildren(h('h1', {}, 'Your prescription'), h('div', { id: 'rx' }));
  const m = /^\/rx\/([0-9a-f]{32})$/.exec(location.pathname);
  const ac = /(?:^#|&)ac=([0-9a-f]{64})(?:&|$)/.exec(location.hash);
  if (m !== null && ac !== null) void show(m[1]!, ac[1]!);
  else $('rx').replaceChildren(codeForm());
}

main();
