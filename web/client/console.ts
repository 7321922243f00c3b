// The staff console (/console): open a key file (kept in this page's memory, or sealed in localStorage with a
// passphrase), see the packs held and the shipments waiting, ship by scanning packs (a USB 2D scanner types
// like a keyboard and ends each code with Enter), receive a shipment marking missing and extra packs,
// dispense (pharmacy), recall a lot (manufacturer). Entries are signed here; the seed never leaves the page.
import { parsePackCode, type ScannedPack } from '../shared/code-entry.js';
import { ApiError } from './api.js';
import { buildEntry, held, heldPack, openSession, participants, patientReports, shipmentsWaiting, shippedItems, submit, type Session, type Shipment } from './console-actions.js';
import { $, h } from './dom.js';
import { forgetSealed, loadSealed, openSealedKey, sealKey, storeSealed } from './key-store.js';

let session: Session | null = null;

function say(text: string, ok = true): void {
  const m = $('msg');
  m.textContent = text;
  m.className = `msg ${ok ? 'ok' : 'bad'}`;
}

function why(e: unknown): string {
  if (e instanceof ApiError) return `${e.code}: ${e.message}`;
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
      say(`Cannot read "${text}": ${why(err)}`, false);
    }
  });
  return h('div', {}, h('label', { for: id }, label), input, h('p', { class: 'hint', id: `${id}-hint` }, 'Scan with a 2D scanner or type (01)GTIN(21)SERIAL, a link, or GTIN and serial; Enter adds it.'));
}

function packList(items: Map<string, ScannedPack>, onRemove: () => void): HTMLElement {
  return h('ul', { class: 'packs' }, ...[...items.entries()].map(([k, p]) => {
    const rm = h('button', { type: 'button', class: 'secondary', 'aria-label': `Remove ${p.serial}` }, 'Remove');
    rm.addEventListener('click', () => {
      items.delete(k);
      onRemove();
    });
    return h('li', { 'data-pack': k }, `${p.gtin} · ${p.serial} `, rm);
  }));
}

async function showHeld(s: Session): Promise<void> {
  const list = await held(s);
  $('held').replaceChildren(list.length === 0 ? h('p', {}, 'No packs held.') : h('table', {},
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'GTIN'), h('th', { scope: 'col' }, 'Lot'), h('th', { scope: 'col' }, 'Serial'), h('th', { scope: 'col' }, 'Expiry'))),
    h('tbody', {}, ...list.map((p) => h('tr', { 'data-pack': packKey(p) }, h('td', {}, p.gtin), h('td', {}, p.lot), h('td', {}, p.serial), h('td', {}, p.expiry))))));
}

async function showIncoming(s: Session): Promise<void> {
  const list = await shipmentsWaiting(s);
  $('incoming').replaceChildren(list.length === 0 ? h('p', {}, 'No shipments waiting.') : h('table', {},
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'From'), h('th', { scope: 'col' }, 'Sent'), h('th', { scope: 'col' }, 'Packs'), h('th', { scope: 'col' }, h('span', { class: 'sr' }, 'Action')))),
    h('tbody', {}, ...list.map((sh) => {
      const b = h('button', { type: 'button' }, `Receive shipment #${sh.index}`);
      b.addEventListener('click', () => void receivePanel(s, sh));
      return h('tr', { 'data-shipment': String(sh.index) }, h('td', {}, sh.from), h('td', {}, new Date(sh.at).toLocaleString()), h('td', {}, String(sh.count)), h('td', {}, b));
    }))));
}

async function showReports(s: Session): Promise<void> {
  const list = await patientReports(s);
  $('reports').replaceChildren(list.length === 0 ? h('p', {}, 'No reports.') : h('table', {},
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, '#'), h('th', { scope: 'col' }, 'Received'), h('th', { scope: 'col' }, 'GTIN'), h('th', { scope: 'col' }, 'Serial'), h('th', { scope: 'col' }, 'Page said'), h('th', { scope: 'col' }, 'Note'))),
    h('tbody', {}, ...list.map((r) => h('tr', { 'data-report': String(r.id) }, h('td', {}, String(r.id)), h('td', {}, new Date(r.at).toLocaleString()), h('td', {}, r.gtin ?? '–'), h('td', {}, r.serial ?? '–'), h('td', {}, r.verdict ?? '–'), h('td', {}, r.note ?? ''))))));
}

async function refresh(): Promise<void> {
  if (session === null) return;
  try {
    await Promise.all([showHeld(session), showIncoming(session), ...(session.role === 'regulator' ? [showReports(session)] : [])]);
  } catch (e) {
    say(`Could not load: ${why(e)}`, false);
  }
}

async function receivePanel(s: Session, sh: Shipment): Promise<void> {
  const expected = await shippedItems(sh.index);
  const want = new Map(expected.packs.map((p) => [packKey(p), p]));
  const seen = new Map<string, ScannedPack>();
  const status = h('p', { class: 'hint', role: 'status' });
  const list = h('div', {});
  const redraw = (): void => {
    const missing = [...want.keys()].filter((k) => !seen.has(k));
    const extra = [...seen.keys()].filter((k) => !want.has(k));
    status.textContent = `${seen.size} scanned; ${missing.length} missing; ${extra.length} extra${expected.lots.length > 0 ? `; whole lots: ${expected.lots.map((l) => l.lot).join(', ')}` : ''}`;
    list.replaceChildren(packList(seen, redraw));
  };
  const send = h('button', { type: 'button' }, 'Sign and send receipt');
  send.addEventListener('click', () => {
    const missing = [...want.entries()].filter(([k]) => !seen.has(k)).map(([, p]) => ({ gtin: p.gtin, serial: p.serial }));
    const extra = [...seen.entries()].filter(([k]) => !want.has(k)).map(([, p]) => ({ gtin: p.gtin, serial: p.serial }));
    void act(async () => {
      const r = await submit(buildEntry(s, 'receive', { ship: sh.hash, missing, extra }, [sh.hash]));
      $('receive').replaceChildren();
      return `Shipment #${sh.index} received (entry #${r.index}; ${missing.length} missing, ${extra.length} extra).`;
    });
  });
  $('receive').replaceChildren(h('h3', {}, `Receiving shipment #${sh.index} from ${sh.from} (${sh.count} packs)`),
    scanField('receive-scan', 'Scan each pack received', (p) => {
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
    say(`Refused: ${why(e)}`, false);
  }
  await refresh();
}

function shipCard(s: Session): HTMLElement {
  const items = new Map<string, ScannedPack>();
  const list = h('div', {});
  const redraw = (): void => void list.replaceChildren(packList(items, redraw));
  const to = h('select', { id: 'ship-to' });
  void participants().then((ps) => to.replaceChildren(h('option', { value: '' }, 'Choose the recipient'),
    ...ps.filter((p) => p.gln !== s.gln && p.role !== 'regulator').map((p) => h('option', { value: p.gln }, `${p.name} (${p.role}, ${p.gln})`))));
  const send = h('button', { type: 'button' }, 'Sign and send shipment');
  send.addEventListener('click', () => void act(async () => {
    if (to.value === '') throw new Error('choose the recipient');
    if (items.size === 0) throw new Error('scan at least one pack');
    const prev = new Set<string>();
    for (const p of items.values()) {
      const row = await heldPack(s, p.gtin, p.serial);
      if (row === null) throw new Error(`you do not hold ${p.gtin} ${p.serial} (or it is not active)`);
      prev.add(row.lastHash);
    }
    const packs = [...items.values()].map((p) => ({ type: 'pack' as const, gtin: p.gtin, serial: p.serial }));
    const r = await submit(buildEntry(s, 'ship', { to: to.value, items: packs }, [...prev].sort()));
    items.clear();
    redraw();
    return `Shipment sent: ${packs.length} packs to ${to.value} (entry #${r.index}).`;
  }));
  return h('section', { class: 'card', 'aria-labelledby': 'ship-head' }, h('h2', { id: 'ship-head' }, 'Ship packs'),
    h('label', { for: 'ship-to' }, 'Recipient'), to,
    scanField('ship-scan', 'Scan packs to ship', (p) => {
      items.set(packKey(p), p);
      redraw();
    }), list, send);
}

function dispenseCard(s: Session): HTMLElement {
  return h('section', { class: 'card', 'aria-labelledby': 'dispense-head' }, h('h2', { id: 'dispense-head' }, 'Dispense a pack'),
    scanField('dispense-scan', 'Scan the pack handed to the patient', (p) => void act(async () => {
      const row = await heldPack(s, p.gtin, p.serial);
      if (row === null) throw new Error(`you do not hold ${p.gtin} ${p.serial} (or it is not active)`);
      const r = await submit(buildEntry(s, 'dispense', { gtin: p.gtin, serial: p.serial }, [row.lastHash]));
      return `Dispensed ${p.serial} (entry #${r.index}).`;
    })));
}

function recallCard(s: Session): HTMLElement {
  const gtin = h('input', { id: 'recall-gtin', inputmode: 'numeric', autocomplete: 'off' });
  const lot = h('input', { id: 'recall-lot', autocomplete: 'off' });
  const reason = h('textarea', { id: 'recall-reason', rows: '2' });
  const form = h('form', {}, h('label', { for: 'recall-gtin' }, 'GTIN'), gtin, h('label', { for: 'recall-lot' }, 'Lot'), lot,
    h('label', { for: 'recall-reason' }, 'Reason'), reason, h('button', { type: 'submit' }, 'Sign and recall this lot'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void act(async () => {
      const r = await submit(buildEntry(s, 'recall', { gtin: gtin.value.trim(), lot: lot.value.trim(), reason: reason.value.trim() }, []));
      return `Lot ${lot.value.trim()} recalled (entry #${r.index}).`;
    });
  });
  return h('section', { class: 'card', 'aria-labelledby': 'recall-head' }, h('h2', { id: 'recall-head' }, 'Recall a lot'), form);
}

function startWork(s: Session): void {
  session = s;
  const forget = h('button', { type: 'button', class: 'secondary' }, 'Close and forget this key');
  forget.addEventListener('click', () => {
    forgetSealed();
    session = null;
    location.reload();
  });
  const remember = h('form', { class: 'row' },
    h('label', { for: 'seal-pass' }, 'Remember on this device, encrypted with a passphrase'),
    h('input', { id: 'seal-pass', type: 'password', autocomplete: 'new-password', minlength: '8' }),
    h('button', { type: 'submit', class: 'secondary' }, 'Encrypt and remember'));
  remember.addEventListener('submit', (e) => {
    e.preventDefault();
    const pass = ($('seal-pass') as HTMLInputElement).value;
    if (pass.length < 8) return say('Use a passphrase of at least 8 characters.', false);
    void sealKey(s.keyText, pass, { name: s.name, gln: s.gln }).then((sealed) => {
      storeSealed(sealed);
      say('The key is stored on this device, encrypted with your passphrase.');
    });
  });
  $('key').replaceChildren(h('h2', {}, 'Signed in'), h('p', { class: 'who', id: 'who' }, `${s.name} · ${s.role} · GLN ${s.gln}`), remember, forget);
  const cards: HTMLElement[] = [
    h('section', { class: 'card', 'aria-labelledby': 'held-head' }, h('h2', { id: 'held-head' }, 'Packs held'), h('div', { id: 'held' })),
    h('section', { class: 'card', 'aria-labelledby': 'incoming-head' }, h('h2', { id: 'incoming-head' }, 'Shipments waiting'), h('div', { id: 'incoming' }), h('div', { id: 'receive' })),
  ];
  if (s.role === 'regulator') cards.push(h('section', { class: 'card', 'aria-labelledby': 'reports-head' }, h('h2', { id: 'reports-head' }, 'Reports from patients'), h('div', { id: 'reports' })));
  if (s.role !== 'regulator') cards.push(shipCard(s));
  if (s.role === 'pharmacy') cards.push(dispenseCard(s));
  if (s.role === 'manufacturer' || s.role === 'regulator') cards.push(recallCard(s));
  $('work').replaceChildren(...cards);
  void refresh();
}

async function open(text: string): Promise<void> {
  try {
    startWork(await openSession(text));
    say('Key opened. It stays in this page; only signatures leave it.');
  } catch (e) {
    say(`Cannot open the key: ${why(e)}`, false);
  }
}

function keyCard(): HTMLElement {
  const file = h('input', { id: 'key-file', type: 'file', accept: '.json,application/json' });
  file.addEventListener('change', () => {
    const f = file.files?.[0];
    if (f !== undefined) void f.text().then(open);
  });
  const parts: Node[] = [h('h2', {}, 'Your key'), h('label', { for: 'key-file' }, 'Open your key file (it is read here and never sent)'), file];
  const sealed = loadSealed();
  if (sealed !== null) {
    const pass = h('input', { id: 'unlock-pass', type: 'password', autocomplete: 'current-password' });
    const form = h('form', {}, h('label', { for: 'unlock-pass' }, `Or unlock the key stored on this device: ${sealed.name} (GLN ${sealed.gln})`), pass, h('button', { type: 'submit' }, 'Unlock'));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      void openSealedKey(sealed, pass.value).then(open, () => say('Wrong passphrase.', false));
    });
    parts.push(form);
  }
  return h('section', { class: 'card', id: 'key', 'aria-labelledby': 'key-head' }, ...parts);
}

function main(): void {
  document.documentElement.lang = 'en';
  $('app').replaceChildren(h('h1', {}, 'medtrail console'), h('p', { id: 'msg', class: 'msg', role: 'status' }), keyCard(), h('div', { id: 'work' }));
}

main();
