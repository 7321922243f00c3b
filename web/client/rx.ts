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
import { checkRxEvidence } from '../common/rx-evidence.js';
import { $, h, icon } from './dom.js';
import { qrSvg } from './qr.js';
import { pickLang } from './i18n.js';
import { RX_WORDS } from './rx-words.js';

const lang = pickLang(navigator.languages?.length ? navigator.languages : [navigator.language]);
const t = RX_WORDS[lang];
const vkey = document.querySelector<HTMLMetaElement>('meta[name="medtrail-log-key"]')?.content ?? '';

const TONE: Record<RxAnswer['status'], 'ok' | 'warn' | 'bad'> = { open: 'ok', claimed: 'warn', completed: 'warn', cancelled: 'bad', expired: 'bad', not_yet_valid: 'warn' };

function fmt(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleDateString(lang, { year: 'numeric', month: 'long', day: 'numeric' });
}

function codeForm(): HTMLElement {
  const input = h('input', { id: 'rx-token', autocomplete: 'off', spellcheck: 'false' });
  const form = h('form', { class: 'card' }, h('h2', {}, t.openHead), h('label', { for: 'rx-token' }, t.tokenLabel), input, h('button', { type: 'submit' }, t.open));
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
  out.replaceChildren(h('p', { class: 'checking', role: 'status' }, t.checking));
  let log: string;
  try {
    log = splitVerifierKey(vkey).name;
  } catch {
    out.replaceChildren(h('p', { class: 'error', role: 'alert' }, t.noKey));
    return;
  }
  const client = new LedgerClient(location.origin, { log, fetchInit: { credentials: 'omit', cache: 'no-store' } });
  let a;
  try {
    a = await client.rxView(id, code);
  } catch (e) {
    const c = isMedtrailError(e) ? e.code : 'ERROR';
    const text = c === 'RX_ACCESS_DENIED' ? t.denied : c === 'RX_ACCESS_LIMITED' ? t.limited : t.failedLoad(c);
    out.replaceChildren(h('div', { class: 'verdict tone-bad', role: 'alert', 'data-error': c }, icon('bad'), h('div', {}, h('h2', {}, t.notOpened), h('p', {}, text))), codeForm());
    return;
  }
  const ev = checkRxEvidence(vkey, id, code, a);
  const p = a.prescription;
  const st = ev.proven ? { text: t.status[p.status], tone: TONE[p.status] } : { text: t.unproven, tone: 'bad' as const };
  const left = p.total - p.dispensed;
  out.replaceChildren(
    h('section', { class: `verdict tone-${st.tone}`, id: 'rx-status', 'data-status': ev.proven ? p.status : 'unproven' }, icon(st.tone), h('div', {},
      h('h2', {}, st.text),
      h('p', {}, t.dispensedOf(p.dispensed, p.total, left > 0 && (p.status === 'open' || p.status === 'claimed') ? left : null)))),
    h('section', { class: 'card', 'aria-labelledby': 'rx-med' },
      h('p', { class: 'medicine', id: 'rx-med' }, p.medicineText),
      h('dl', { class: 'facts' },
        h('dt', {}, t.dosage), h('dd', {}, p.dosage),
        h('dt', {}, t.quantity), h('dd', {}, t.packs(p.quantity, p.repeats)),
        h('dt', {}, t.valid), h('dd', {}, `${fmt(p.validFrom)} – ${fmt(p.validUntil)}`),
        h('dt', {}, t.prescribedBy), h('dd', {}, `${p.prescriber.name}, ${fmt(p.at)}`),
        ...(p.claimedBy !== null ? [h('dt', {}, t.atPharmacy), h('dd', {}, p.claimedBy.name)] : []),
        ...(p.cancelReason !== null ? [h('dt', {}, t.cancelled), h('dd', {}, p.cancelReason)] : []))),
    h('section', { class: 'card', 'aria-labelledby': 'rx-disp-head' }, h('h2', { id: 'rx-disp-head' }, t.dispensedHead),
      p.dispenses.length === 0 ? h('p', {}, t.nothingYet) : h('ul', { class: 'journey', id: 'rx-dispenses' }, ...p.dispenses.map((d) =>
        h('li', {}, h('span', {}, h('span', { class: 'step' }, `${d.product ?? d.gtin}${d.undone ? t.takenBack : ''}`), h('br', {}), `${d.pharmacy.name} · ${t.pack} ${d.serial}`), h('time', { datetime: d.at }, fmt(d.at)))))),
    ...(ev.proven && (p.status === 'open' || p.status === 'claimed' || p.status === 'not_yet_valid')
      ? [h('section', { class: 'card token', 'aria-labelledby': 'rx-token-head' }, h('h2', { id: 'rx-token-head' }, t.showHead), qrSvg(location.href, t.qrLabel), h('p', { class: 'hint' }, t.showHint))]
      : []),
    h('section', { class: 'card checks', 'aria-labelledby': 'rx-checks-head' }, h('h2', { id: 'rx-checks-head' }, t.checkedHead),
      h('ul', {}, ...ev.checks.map((c) => h('li', { class: c.ok ? 'check-ok' : 'check-failed', 'data-check': c.id }, h('span', { class: 'mark', 'aria-hidden': 'true' }, c.ok ? '✓' : '✗'), h('span', {}, `${t.checks[c.id]}${c.ok ? '' : t.failed(c.code ?? '')}`)))),
      h('p', { class: 'vkey' }, t.ledgerKey, h('code', {}, vkey))),
  );
}

function main(): void {
  document.documentElement.lang = lang;
  document.title = `${t.title} — medtrail`;
  $('app').replaceChildren(h('h1', {}, t.title), h('div', { id: 'rx' }));
  const m = /^\/rx\/([0-9a-f]{32})$/.exec(location.pathname);
  const ac = /(?:^#|&)ac=([0-9a-f]{64})(?:&|$)/.exec(location.hash);
  if (m !== null && ac !== null) void show(m[1]!, ac[1]!);
  else $('rx').replaceChildren(codeForm());
}

main();
