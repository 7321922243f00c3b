// The staff console (/console): open a key file (kept in this page's memory, or sealed in localStorage with a
// passphrase), see the packs held and the shipments waiting, ship by scanning packs (a USB 2D scanner types
// like a keyboard and ends each code with Enter), receive a shipment marking missing and extra packs,
// dispense (pharmacy), recall a lot (manufacturer). Entries are signed here; the seed never leaves the page.
import { parsePackCode, type ScannedPack } from '../common/code-entry.js';
import { isMedtrailError } from '../../core/errors.js';
import { buildEntry, held, heldPack, openSession, participants, patientReports, shipmentsWaiting, shippedItems, submit, type Session, type Shipment } from './console-actions.js';
import { $, h } from './dom.js';
import { CONSOLE_WORDS } from './console-words.js';
import { pickLang } from './i18n.js';
import { forgetSealed, loadSealed, openSealedKey, sealKey, storeSealed } from './key-store.js';
import { pharmacyRxCard, prescriberCards, reportCard, type RxUi } from './console-rx.js';

let session: Session | null = null;
const lang = pickLang(navigator.languages?.length ? navigator.languages : [navigator.language]);
const w = CONSOLE_WORDS[lang];

function say(text: string, ok = true): void {
  const m = $('msg');
  m.textContent = text;
  m.className = `msg ${ok ? 'ok' : 'bad'}`;
}

function why(e: unknown): string {
  if (isMedtrailError(e)) return `${e.code}: ${e.message}`;
  return e instanceof Error ? e.message : String(e);
}

const packKey = (p: { gtin: string; serial: string }): string => `${p.gtin}/${p.serial}`;

/** A text field for scanned or typed pack codes: each Enter adds one pack. */
function scanField(id: string, label: string, onPack: (p: ScannedPack) => void): HTMLElement {
  const input = h('input', { id, autocomplete: 'off', spellcheck: 'false', 'aria-describedby': `${id}-hint` });
  input.addEventListener('keydown', (e) => {
    if (e.key !== 'Enter') return;
    e.preventDefault();
    const text = input.value;
    input.value = '';
    if (text.trim() === '') return;
    try {
      onPack(parsePackCode(text));
    } catch (err) {
      say(w.cannotRead(text, why(err)), false);
    }
  });
  return h('div', {}, h('label', { for: id }, label), input, h('p', { class: 'hint', id: `${id}-hint` }, w.scanHint));
}

function packList(items: Map<string, ScannedPack>, onRemove: () => void): HTMLElement {
  return h('ul', { class: 'packs' }, ...[...items.entries()].map(([k, p]) => {
    const rm = h('button', { type: 'button', class: 'secondary', 'aria-label': w.removeLabel(p.serial) }, w.remove);
    rm.addEventListener('click', () => {
      items.delete(k);
      onRemove();
    });
    return h('li', { 'data-pack': k }, `${p.gtin} · ${p.serial} `, rm);
  }));
}

async function showHeld(s: Session): Promise<void> {
  const list = await held(s);
  $('held').replaceChildren(list.length === 0 ? h('p', {}, w.noHeld) : h('table', {},
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, w.gtin), h('th', { scope: 'col' }, w.lot), h('th', { scope: 'col' }, w.serial), h('th', { scope: 'col' }, w.expiry))),
    h('tbody', {}, ...list.map((p) => h('tr', { 'data-pack': packKey(p) }, h('td', {}, p.gtin), h('td', {}, p.lot), h('td', {}, p.serial), h('td', {}, p.expiry))))));
}

async function showIncoming(s: Session): Promise<void> {
  const list = await shipmentsWaiting(s);
  $('incoming').replaceChildren(list.length === 0 ? h('p', {}, w.noShipments) : h('table', {},
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, w.from), h('th', { scope: 'col' }, w.sent), h('th', { scope: 'col' }, w.packs), h('th', { scope: 'col' }, h('span', { class: 'sr' }, w.action)))),
    h('tbody', {}, ...list.map((sh) => {
      const b = h('button', { type: 'button' }, w.receiveShipment(sh.index));
      b.addEventListener('click', () => void receivePanel(s, sh));
      return h('tr', { 'data-shipment': String(sh.index) }, h('td', {}, sh.from), h('td', {}, new Date(sh.at).toLocaleString()), h('td', {}, String(sh.count)), h('td', {}, b));
    }))));
}

async function showReports(s: Session): Promise<void> {
  const list = await patientReports(s);
  $('reports').replaceChildren(list.length === 0 ? h('p', {}, w.noReports) : h('table', {},
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, '#'), h('th', { scope: 'col' }, w.received), h('th', { scope: 'col' }, w.gtin), h('th', { scope: 'col' }, w.serial), h('th', { scope: 'col' }, w.ledgerSaid), h('th', { scope: 'col' }, w.pageSaid), h('th', { scope: 'col' }, w.note))),
    h('tbody', {}, ...list.map((r) => h('tr', { 'data-report': String(r.id) }, h('td', {}, String(r.id)), h('td', {}, new Date(r.at).toLocaleString()), h('td', {}, r.gtin ?? '–'), h('td', {}, r.serial ?? '–'), h('td', {}, r.verdict ?? '–'), h('td', {}, r.claimed ?? '–'), h('td', {}, r.note ?? ''))))));
}

async function refresh(): Promise<void> {
  if (session === null) return;
  // The prescription cards (console-rx.ts) reload themselves on this event.
  document.querySelectorAll('[data-refresh]').forEach((e) => e.dispatchEvent(new Event('refresh')));
  if (session.role === 'prescriber') return;
  try {
    await Promise.all([showHeld(session), showIncoming(session), ...(session.role === 'regulator' ? [showReports(session)] : [])]);
  } catch (e) {
    say(w.couldNotLoad(why(e)), false);
  }
}

async function receivePanel(s: Session, sh: Shipment): Promise<void> {
  const expected = await shippedItems(s, sh.index);
  const want = new Map(expected.packs.map((p) => [packKey(p), p]));
  const seen = new Map<string, ScannedPack>();
  const status = h('p', { class: 'hint', role: 'status' });
  const list = h('div', {});
  const redraw = (): void => {
    const missing = [...want.keys()].filter((k) => !seen.has(k));
    const extra = [...seen.keys()].filter((k) => !want.has(k));
    status.textContent = w.receiveStatus(seen.size, missing.length, extra.length, expected.lots.map((l) => l.lot).join(', '));
    list.replaceChildren(packList(seen, redraw));
  };
  const send = h('button', { type: 'button' }, w.sendReceipt);
  send.addEventListener('click', () => {
    const missing = [...want.entries()].filter(([k]) => !seen.has(k)).map(([, p]) => ({ gtin: p.gtin, serial: p.serial }));
    const extra = [...seen.entries()].filter(([k]) => !want.has(k)).map(([, p]) => ({ gtin: p.gtin, serial: p.serial }));
    void act(async () => {
      const r = await submit(buildEntry(s, 'receive', { ship: sh.hash, missing, extra }, [sh.hash]));
      $('receive').replaceChildren();
      return w.receivedMsg(sh.index, r.index, missing.length, extra.length);
    });
  });
  $('receive').replaceChildren(h('h3', {}, w.receiving(sh.index, sh.from, sh.count)),
    scanField('receive-scan', w.scanReceived, (p) => {
      seen.set(packKey(p), p);
      redraw();
    }), status, list, send);
  redraw();
  document.getElementById('receive-scan')?.focus();
}

async function act(f: () => Promise<string>): Promise<void> {
  try {
    say(await f());
  } catch (e) {
    say(w.refused(why(e)), false);
  }
  await refresh();
}

function shipCard(s: Session): HTMLElement {
  const items = new Map<string, ScannedPack>();
  const list = h('div', {});
  const redraw = (): void => void list.replaceChildren(packList(items, redraw));
  const to = h('select', { id: 'ship-to' });
  void participants().then((ps) => to.replaceChildren(h('option', { value: '' }, w.chooseRecipient),
    ...ps.filter((p) => p.gln !== s.gln && p.role !== 'regulator').map((p) => h('option', { value: p.gln }, `${p.name} (${p.role}, ${p.gln})`))));
  const send = h('button', { type: 'button' }, w.sendShipment);
  send.addEventListener('click', () => void act(async () => {
    if (to.value === '') throw new Error(w.needRecipient);
    if (items.size === 0) throw new Error(w.needPacks);
    const prev = new Set<string>();
    for (const p of items.values()) {
      const row = await heldPack(s, p.gtin, p.serial);
      if (row === null) throw new Error(w.notHeld(p.gtin, p.serial));
      prev.add(row.lastHash);
    }
    const packs = [...items.values()].map((p) => ({ type: 'pack' as const, gtin: p.gtin, serial: p.serial }));
    const r = await submit(buildEntry(s, 'ship', { to: to.value, items: packs }, [...prev].sort()));
    items.clear();
    redraw();
    return w.shipmentSent(packs.length, to.value, r.index);
  }));
  return h('section', { class: 'card', 'aria-labelledby': 'ship-head' }, h('h2', { id: 'ship-head' }, w.shipHead),
    h('label', { for: 'ship-to' }, w.recipient), to,
    scanField('ship-scan', w.scanToShip, (p) => {
      items.set(packKey(p), p);
      redraw();
    }), list, send);
}

function dispenseCard(s: Session): HTMLElement {
  return h('section', { class: 'card', 'aria-labelledby': 'dispense-head' }, h('h2', { id: 'dispense-head' }, w.dispenseHead),
    scanField('dispense-scan', w.scanDispense, (p) => void act(async () => {
      const row = await heldPack(s, p.gtin, p.serial);
      if (row === null) throw new Error(w.notHeld(p.gtin, p.serial));
      const r = await submit(buildEntry(s, 'dispense', { gtin: p.gtin, serial: p.serial }, [row.lastHash]));
      return w.dispensed(p.serial, r.index);
    })));
}

function recallCard(s: Session): HTMLElement {
  const gtin = h('input', { id: 'recall-gtin', inputmode: 'numeric', autocomplete: 'off' });
  const lot = h('input', { id: 'recall-lot', autocomplete: 'off' });
  const reason = h('textarea', { id: 'recall-reason', rows: '2' });
  const form = h('form', {}, h('label', { for: 'recall-gtin' }, w.gtin), gtin, h('label', { for: 'recall-lot' }, w.lot), lot,
    h('label', { for: 'recall-reason' }, w.reason), reason, h('button', { type: 'submit' }, w.recallButton));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void act(async () => {
      const r = await submit(buildEntry(s, 'recall', { gtin: gtin.value.trim(), lot: lot.value.trim(), reason: reason.value.trim() }, []));
      return w.recalled(lot.value.trim(), r.index);
    });
  });
  return h('section', { class: 'card', 'aria-labelledby': 'recall-head' }, h('h2', { id: 'recall-head' }, w.recallHead), form);
}

function startWork(s: Session): void {
  session = s;
  const forget = h('button', { type: 'button', class: 'secondary' }, w.forget);
  forget.addEventListener('click', () => {
    forgetSealed();
    session = null;
    location.reload();
  });
  const remember = h('form', { class: 'row' },
    h('label', { for: 'seal-pass' }, w.remember),
    h('input', { id: 'seal-pass', type: 'password', autocomplete: 'new-password', minlength: '8' }),
    h('button', { type: 'submit', class: 'secondary' }, w.encrypt));
  remember.addEventListener('submit', (e) => {
    e.preventDefault();
    const pass = ($('seal-pass') as HTMLInputElement).value;
    if (pass.length < 8) return say(w.passTooShort, false);
    void sealKey(s.keyText, pass, { name: s.name, gln: s.gln }).then((sealed) => {
      storeSealed(sealed);
      say(w.stored);
    });
  });
  $('key').replaceChildren(h('h2', {}, w.signedIn), h('p', { class: 'who', id: 'who' }, `${s.name} · ${s.role} · GLN ${s.gln}`), remember, forget);
  const rxUi: RxUi = { act, scanField };
  if (s.role === 'prescriber') {
    $('work').replaceChildren(...prescriberCards(s, rxUi));
    return;
  }
  const cards: HTMLElement[] = [
    h('section', { class: 'card', 'aria-labelledby': 'held-head' }, h('h2', { id: 'held-head' }, w.heldHead), h('div', { id: 'held' })),
    h('section', { class: 'card', 'aria-labelledby': 'incoming-head' }, h('h2', { id: 'incoming-head' }, w.incomingHead), h('div', { id: 'incoming' }), h('div', { id: 'receive' })),
  ];
  if (s.role === 'regulator') cards.push(h('section', { class: 'card', 'aria-labelledby': 'reports-head' }, h('h2', { id: 'reports-head' }, w.reportsHead), h('div', { id: 'reports' })));
  if (s.role !== 'regulator') cards.push(shipCard(s));
  if (s.role === 'pharmacy') cards.push(dispenseCard(s), pharmacyRxCard(s, rxUi));
  if (s.role === 'regulator') cards.push(reportCard(s, rxUi));
  if (s.role === 'manufacturer' || s.role === 'regulator') cards.push(recallCard(s));
  $('work').replaceChildren(...cards);
  void refresh();
}

async function open(text: string): Promise<void> {
  try {
    startWork(await openSession(text));
    say(w.opened);
  } catch (e) {
    say(w.cannotOpen(why(e)), false);
  }
}

function keyCard(): HTMLElement {
  const file = h('input', { id: 'key-file', type: 'file', accept: '.json,application/json' });
  file.addEventListener('change', () => {
    const f = file.files?.[0];
    if (f !== undefined) void f.text().then(open);
  });
  const parts: Node[] = [h('h2', {}, w.yourKey), h('label', { for: 'key-file' }, w.openFile), file];
  const sealed = loadSealed();
  if (sealed !== null) {
    const pass = h('input', { id: 'unlock-pass', type: 'password', autocomplete: 'current-password' });
    const form = h('form', {}, h('label', { for: 'unlock-pass' }, w.unlockStored(sealed.name, sealed.gln)), pass, h('button', { type: 'submit' }, w.unlock));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      void openSealedKey(sealed, pass.value).then(open, () => say(w.wrongPass, false));
    });
    parts.push(form);
  }
  return h('section', { class: 'card', id: 'key', 'aria-labelledby': 'key-head' }, ...parts);
}

function main(): void {
  document.documentElement.lang = lang;
  document.title = w.title;
  $('app').replaceChildren(h('h1', {}, w.title), h('p', { id: 'msg', class: 'msg', role: 'status' }), keyCard(), h('div', { id: 'work' }));
}

main();
