// The patient's page (main module; patient.ts has already sent its requests). Opened by the pack's NFC tag or QR code (a GS1 Digital Link on this origin), it asks the
// server for a verdict, then checks the evidence itself (web/common/evidence.ts): the log's checkpoint against
// the key pinned into the page, the manufacturer's key in the log, the pack in the log, the tag's signature.
// If any of that fails it says NOT GENUINE whatever the server claimed. Without a code in the path it offers
// the camera and a form to type the code.
import { parseDigitalLink, type DigitalLink } from '../../core/gs1/digital-link.js';
import { gs1DateToIso } from '../../core/gs1/date.js';
import { isExpired, isValidGln } from '../../core/gs1/identifiers.js';
import { codeToPath } from '../common/code-entry.js';
import { parseVerifyAnswer, type MapAnswer } from '../../core/api/answers.js';
import { checkQuorum, parsePolicy, type TlogPolicy } from '../../core/log/policy.js';
import { fromBase64 } from '../../core/bytes.js';
import { checkEvidence, openCheckpointCached, type EvidenceResult } from '../common/evidence.js';
import { formatPackProof, packProofFileName } from '../../core/map/pack-proof.js';
import { getJson, obj, postJson, str } from './api.js';
import { $, h, icon } from './dom.js';
import { takeEarly } from './early.js';
import { pickLang, WORDS, type VerdictKey } from './i18n.js';
import { startScan } from './scan.js';

const lang = pickLang(navigator.languages?.length ? navigator.languages : [navigator.language]);
const t = WORDS[lang];
document.documentElement.lang = lang;
document.title = t.title;
const vkey = document.querySelector<HTMLMetaElement>('meta[name="medtrail-log-key"]')?.content ?? '';
// The oldest witness cosignature accepted (seconds): an answer replayed from before is refused.
const maxAgeS = Number(document.querySelector<HTMLMetaElement>('meta[name="medtrail-max-age"]')?.content ?? '600') || 600;
const notBefore = (): number => Math.floor(Date.now() / 1000) - maxAgeS;
// The deployment's witness policy, pinned like the log key (server/web/pages.ts); none: no witness check.
const policy: TlogPolicy | null = (() => {
  const b64 = document.querySelector<HTMLMetaElement>('meta[name="medtrail-policy"]')?.content;
  if (b64 === undefined || b64 === '') return null;
  try {
    return parsePolicy(new TextDecoder().decode(fromBase64(b64)));
  } catch {
    return null;
  }
})();

const TONE: Record<VerdictKey, 'ok' | 'warn' | 'bad'> = {
  GENUINE: 'ok', DISPENSED: 'warn', IN_TRANSIT: 'warn', SUSPICIOUS: 'warn', CANNOT_CONFIRM: 'warn', ERROR: 'warn',
  RECALLED: 'bad', EXPIRED: 'bad', UNKNOWN: 'bad', COUNTERFEIT: 'bad', NOT_GENUINE: 'bad',
};

function fmtDate(iso: string | null): string {
  if (iso === null) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : t.date(d.getDate(), d.getMonth(), d.getFullYear());
}

function fmtExpiry(yymmdd: string | null): string {
  if (yymmdd === null) return '';
  try {
    return fmtDate(gs1DateToIso(yymmdd));
  } catch {
    return yymmdd;
  }
}

type MakerEvidence = { gln: string; leaf: string; checkpoint: string; inclusion: { index: number; size: number; leafHash: string; proof: string[] } };

/** The key entry of the GTIN's manufacturer with its proof and checkpoint (server/web/maker-evidence.ts); null when unavailable. */
async function makerEvidence(gtin: string, serial: string | undefined): Promise<MakerEvidence | null> {
  try {
    const q = serial === undefined ? '' : `?serial=${encodeURIComponent(serial)}`;
    const a = obj(await (takeEarly('maker') ?? getJson(`/api/v1/products/${gtin}/maker-key${q}`)));
    const leaf = str(a['leaf']);
    const checkpoint = str(a['checkpoint']);
    if (leaf === null || checkpoint === null || !Array.isArray(a['proof'])) return null;
    return {
      gln: String(a['gln']), leaf, checkpoint,
      inclusion: { index: Number(a['index']), size: Number(a['size']), leafHash: String(a['leafHash']), proof: a['proof'].map(String) },
    };
  } catch {
    return null;
  }
}

/** Whether the answer's checkpoint carries a quorum of the pinned policy's witnesses. */
function witnessed(answer: Record<string, unknown>): boolean {
  const note = str(obj(answer['map'])['checkpoint']) ?? str(obj(answer['proof'])['checkpoint']);
  if (policy === null || note === null) return true;
  try {
    return checkQuorum(policy, note, { log: vkey, notBefore: notBefore() }).satisfied;
  } catch {
    return true; // a bad line is for checkEvidence to report, not a reason to wait
  }
}

function decide(server: string, ev: EvidenceResult): { key: VerdictKey; noSig: boolean } {
  // The server already says so: keep its word. Otherwise the page's own failed check overrides the server.
  if (ev.broken) return { key: server === 'COUNTERFEIT' ? 'COUNTERFEIT' : 'NOT_GENUINE', noSig: false };
  const serverKey: VerdictKey = server in TONE && server !== 'ERROR' ? (server as VerdictKey) : 'ERROR';
  // Without the maker's signature on the code, nothing here proves this pack is the one the ledger knows (a
  // serial can be copied from any shelf): never GENUINE, whatever the server says.
  const noSig = ev.checks.some((c) => c.id === 'pack_signature' && c.code === 'NO_SIGNATURE');
  const p = ev.proven;
  // No state proven: the server's word for bad news, never for good news (issue 12 #3).
  if (p === null) {
    if (noSig && (server === 'GENUINE' || server === 'SUSPICIOUS')) return { key: 'CANNOT_CONFIRM', noSig: true };
    return { key: server === 'GENUINE' ? 'CANNOT_CONFIRM' : serverKey, noSig: false };
  }
  // The state the log committed to decides (issue 13), whatever the server claimed.
  if (!p.present) return { key: 'UNKNOWN', noSig: false };
  if (p.recalled) return { key: 'RECALLED', noSig: false };
  if (p.state === 'dispensed') return { key: 'DISPENSED', noSig: false };
  if (p.state === 'in_transit') return { key: 'IN_TRANSIT', noSig: false };
  if (p.state !== 'active') return { key: server === 'GENUINE' ? 'NOT_GENUINE' : serverKey, noSig: false };
  // The expiry the maker registered, as proven, against this phone's clock.
  try {
    if (isExpired(p.expiry, new Date())) return { key: 'EXPIRED', noSig: false };
  } catch {
    /* a malformed date cannot hash to the proven value: checkEvidence would have failed */
  }
  // Active: what only the server can see (scans elsewhere, expiry by its clock) may still speak against it.
  if (server !== 'GENUINE' && server !== 'ERROR') return { key: noSig && server === 'SUSPICIOUS' ? 'CANNOT_CONFIRM' : serverKey, noSig: noSig && server === 'SUSPICIOUS' };
  if (noSig) return { key: 'CANNOT_CONFIRM', noSig: true };
  return { key: ev.complete ? 'GENUINE' : 'CANNOT_CONFIRM', noSig: false };
}

function row(label: string, value: string): Node[] {
  return value === '' ? [] : [h('dt', {}, label), h('dd', {}, value)];
}

async function report(code: string, verdict: string, button: HTMLButtonElement, status: HTMLElement): Promise<void> {
  button.disabled = true;
  try {
    const r = obj(await postJson('/api/v1/reports', { code, verdict }));
    status.textContent = t.reportSent(Number(r['id']));
  } catch {
    status.textContent = t.reportFailed;
    button.disabled = false;
  }
}

async function checkCode(dl: DigitalLink, code: string): Promise<void> {
  const out = $('result');
  out.replaceChildren(h('p', { class: 'checking', role: 'status' }, t.checking));
  // Both requests at once; the maker's checkpoint is opened (one Ed25519 verification) as soon as it arrives,
  // while the verdict may still be on its way.
  const makerP = makerEvidence(dl.gtin, dl.serial).then((m) => {
    if (m !== null) {
      try {
        openCheckpointCached(m.checkpoint, vkey);
      } catch {
        // checkEvidence reports it
      }
    }
    return m;
  });
  let answer: Record<string, unknown>;
  try {
    answer = obj(await (takeEarly('verify') ?? postJson('/api/v1/verify', { code })));
    // A checkpoint signed a moment ago may not carry the witnesses' cosignatures yet: ask once more shortly.
    if (policy !== null && !witnessed(answer)) {
      await new Promise((r) => setTimeout(r, 800));
      answer = obj(await postJson('/api/v1/verify', { code }));
    }
  } catch {
    answer = { verdict: 'ERROR' };
  }
  performance.mark('medtrail:verify-answer');
  const server = str(answer['verdict']) ?? 'ERROR';
  const product = obj(answer['product']);
  const pack = obj(answer['pack']);
  const proofRaw = answer['proof'] === null || answer['proof'] === undefined ? null : obj(answer['proof']);
  const makerRaw = product['manufacturer'];
  const makerGln = typeof makerRaw === 'string' ? (isValidGln(makerRaw) ? makerRaw : null) : str(obj(makerRaw)['gln']);
  const makerName = typeof makerRaw === 'string' ? makerRaw : (str(obj(makerRaw)['name']) ?? makerGln ?? '');
  const lot = dl.lot ?? str(pack['lot']);
  const expiry = dl.expiry ?? str(pack['expiry']);

  const packProof = proofRaw === null ? null : {
    index: Number(proofRaw['index']), size: Number(proofRaw['size']), leafHash: String(proofRaw['leafHash']),
    proof: Array.isArray(proofRaw['proof']) ? proofRaw['proof'].map(String) : [], checkpoint: String(proofRaw['checkpoint']),
  };
  const maker = await makerP;
  performance.mark('medtrail:maker-entry');
  let map: MapAnswer | null = null;
  try {
    map = parseVerifyAnswer(answer).map ?? null;
  } catch {
    map = null; // a malformed answer proves nothing: checkEvidence says the state is not proven
  }
  const ev = checkEvidence({
    vkey, packProof, makerGln, makerLeaf: maker, sig: dl.sig ?? null, map, policy, notBefore: notBefore(),
    key: dl.serial !== undefined ? { gtin: dl.gtin, serial: dl.serial } : null,
    pack: dl.serial !== undefined && lot !== null && expiry !== null ? { gtin: dl.gtin, serial: dl.serial, lot, expiry } : null,
  });
  performance.mark('medtrail:checked');
  const { key, noSig } = decide(server, ev);
  // The proven state overruled the server: say so.
  const overruled = ev.proven !== null && key !== server && server !== 'ERROR' && !(key === 'CANNOT_CONFIRM' && server === 'GENUINE');
  const tone = TONE[key];
  const v = t.verdict[key];

  const verdict = h('section', { id: 'verdict', class: `verdict tone-${tone}`, 'data-verdict': key, 'data-server-verdict': server, 'aria-labelledby': 'verdict-head' },
    icon(tone, 56),
    h('div', {}, h('h2', { id: 'verdict-head', tabindex: '-1' }, v.head), h('p', {}, v.text), noSig ? h('p', { class: 'note' }, t.noSignature) : null, overruled ? h('p', { class: 'note', 'data-overruled': server }, t.serverWrong(server)) : null,
      ev.checks.some((c) => c.id === 'witnesses' && c.code === 'CHECKPOINT_STALE') ? h('p', { class: 'note', 'data-stale': '' }, t.stale) : null));

  const name = [str(product['name']), str(product['strength'])].filter((x) => x !== null).join(' ');
  const facts = h('section', { class: 'card', 'aria-labelledby': 'facts-head' },
    h('h2', { id: 'facts-head' }, t.medicine),
    name !== '' ? h('p', { class: 'medicine' }, name, str(product['form']) !== null ? h('span', { class: 'form' }, ` · ${str(product['form'])!}`) : null) : null,
    h('dl', { class: 'facts' }, ...row(t.manufacturer, makerName), ...row(t.lot, lot ?? ''), ...row(t.expiry, fmtExpiry(expiry)), ...row(t.serial, dl.serial ?? '')));

  let todo: HTMLElement | null = null;
  if (key !== 'GENUINE') {
    const status = h('p', { class: 'report-status', role: 'status' });
    const button = h('button', { type: 'button', class: 'report' }, t.report);
    button.addEventListener('click', () => void report(code, key, button, status));
    todo = h('section', { class: 'card todo', 'aria-labelledby': 'todo-head' }, h('h2', { id: 'todo-head' }, t.whatToDo), h('p', {}, t.todo[key] ?? t.doNotTake), button, status);
  }

  // Broad strokes for the public: made, distributed, at the pharmacy, dispensed (and recalls); the legs in
  // transit between them add nothing a patient needs.
  const steps = (Array.isArray(answer['journey']) ? answer['journey'].map(obj) : []).filter((s) => s['step'] !== 'in_transit');
  const journey = steps.length === 0 ? null : h('section', { class: 'card', 'aria-labelledby': 'journey-head' },
    h('h2', { id: 'journey-head' }, t.journey),
    h('ol', { class: 'journey' }, ...steps.map((s) => {
      const step = str(s['step']) ?? '';
      return h('li', {}, h('span', { class: 'step' }, t.steps[step] ?? step), h('time', { datetime: str(s['at']) ?? '' }, fmtDate(str(s['at']))));
    })));

  const reasons = Array.isArray(answer['reasons']) ? answer['reasons'].map(obj) : [];
  const details = lang === 'en' && reasons.length > 0
    ? h('details', { class: 'reasons' }, h('summary', {}, t.serverSaid), h('ul', {}, ...reasons.map((r) => h('li', {}, str(r['message']) ?? str(r['code']) ?? ''))))
    : null;

  const checks = h('section', { class: 'card checks', 'aria-labelledby': 'checks-head' },
    h('h2', { id: 'checks-head' }, t.checksHead),
    h('ul', {}, ...ev.checks.map((c) => h('li', { class: `check-${c.status}`, 'data-check': c.id, 'data-status': c.status },
      h('span', { class: 'mark', 'aria-hidden': 'true' }, c.status === 'ok' ? '✓' : c.status === 'failed' ? '✗' : '–'),
      h('span', {}, `${t.checks[c.id] ?? c.id}: `, h('strong', {}, t.checkStatus[c.status]))))),
    details,
    keepProof(answer, ev.proven !== null, dl),
    h('p', { class: 'vkey' }, `${t.logKey}: `, h('code', { id: 'log-key' }, vkey)));

  out.replaceChildren(verdict, facts, ...(todo !== null ? [todo] : []), ...(journey !== null ? [journey] : []), checks);
}

/**
 * A link to keep what this answer proves about the pack, as a c2sp.org/tlog-proof file (core/map/pack-proof.ts):
 * only once the page has checked the pack's state itself, and only for a pack the ledger holds.
 */
function keepProof(answer: Record<string, unknown>, proven: boolean, dl: { gtin: string; serial?: string }): HTMLElement | null {
  if (!proven || dl.serial === undefined) return null;
  let text: string;
  try {
    const a = parseVerifyAnswer(answer);
    if (a.map === undefined || a.proof === null || a.map.value === null) return null;
    text = formatPackProof({ gtin: dl.gtin, serial: dl.serial, map: a.map, proof: a.proof });
  } catch {
    return null;
  }
  const href = URL.createObjectURL(new Blob([text], { type: 'text/plain' }));
  return h('p', { class: 'keep' }, h('a', { id: 'keep-proof', href, download: packProofFileName(dl.gtin, dl.serial) }, t.keepProof), ' ', h('span', { class: 'hint' }, t.keepProofHint));
}

function entryForm(): HTMLElement {
  const err = h('p', { class: 'error', id: 'code-error', role: 'alert' });
  const code = h('input', { id: 'code', name: 'code', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'code-hint code-error', inputmode: 'text' });
  const serial = h('input', { id: 'serial', name: 'serial', autocomplete: 'off', spellcheck: 'false' });
  const form = h('form', { class: 'entry', novalidate: true },
    h('h3', {}, t.typeHead),
    h('label', { for: 'code' }, t.gtinLabel), code, h('p', { class: 'hint', id: 'code-hint' }, t.gtinHint),
    h('label', { for: 'serial' }, t.serialLabel), serial,
    h('button', { type: 'submit' }, t.check), err);
  const go = (text: string, sn = ''): void => {
    try {
      location.assign(codeToPath(text, sn));
    } catch {
      err.textContent = t.badCode;
    }
  };
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    go(code.value, serial.value);
  });

  const video = h('video', { class: 'camera', hidden: true, 'aria-label': t.scanHint });
  const scanBtn = h('button', { type: 'button', class: 'scan' }, t.scan);
  const scanMsg = h('p', { role: 'status', class: 'hint' });
  let active: { stop: () => void } | null = null;
  scanBtn.addEventListener('click', () => {
    if (active !== null) {
      active.stop();
      active = null;
      video.hidden = true;
      scanBtn.textContent = t.scan;
      return;
    }
    video.hidden = false;
    scanMsg.textContent = t.scanHint;
    scanBtn.textContent = t.scanStop;
    startScan(video, (text) => go(text)).then((s) => (active = s), () => {
      video.hidden = true;
      scanBtn.textContent = t.scan;
      scanMsg.textContent = t.noCamera;
    });
  });
  return h('section', { class: 'card', id: 'entry', 'aria-labelledby': 'entry-head' }, h('h2', { id: 'entry-head' }, t.another), scanBtn, scanMsg, video, form);
}

function main(): void {
  const app = $('app');
  // Polite live region: a screen reader announces the verdict when it replaces "Checking this pack…".
  app.replaceChildren(h('h1', {}, t.title), h('div', { id: 'result', 'aria-live': 'polite' }));
  // The form for another pack is laid out after this pack's verdict is shown (its first layout cost 20-40 ms
  // on the verdict's path), or after two seconds if the verdict is slow to come.
  let formShown = false;
  const showForm = (): void => {
    if (!formShown) app.append(entryForm());
    formShown = true;
  };
  if (!/^\/01\//.test(location.pathname)) return showForm();
  let dl: DigitalLink;
  try {
    dl = parseDigitalLink(location.href);
  } catch {
    $('result').replaceChildren(h('section', { id: 'verdict', class: 'verdict tone-warn', 'data-verdict': 'ERROR' }, icon('warn', 56), h('div', {}, h('h2', {}, t.badCode))));
    return showForm();
  }
  setTimeout(showForm, 2000);
  void checkCode(dl, location.href).finally(showForm);
}

main();
