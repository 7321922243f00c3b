// Watches every PC/SC reader through nfc-pcsc and turns each tap into one typed event: the tag's UID and
// URI, or a coded error. Order of a read: UID (FF CA), then pages 3-6 in one APDU (CC + the first 12 data
// bytes, enough for the NDEF TLV header on a tag as NXP formats it), then exactly the pages that hold the rest
// of the NDEF TLV (FAST_READ, or 16-byte READ BINARY APDUs). A removed card, a reader unplugged or any malformed content ends in a
// 'tag-error' event; nothing thrown here escapes to the process.
//
// pcscd going away (restarted by an update, a crash, a USB hiccup) ends pcsclite's monitoring for good: its
// status thread stops at the first failed SCardGetStatusChange. The watch then reports 'pcsc-error', drops
// the readers, and reconnects once pcscd answers on its socket again (checked without blocking: pcsclite's
// own connect loops on the event loop's thread while there is no service), so a counter's reader comes
// back by itself.
import { createConnection } from 'node:net';
import { NFC, TAG_ISO_14443_4, type Reader } from 'nfc-pcsc';
import { concatBytes } from '../core/bytes.js';
import { MedtrailError, isMedtrailError, type ErrorCode, messageOf, codeOf } from '../core/errors.js';
import { uriFromNdefMessage } from '../core/tag/ndef.js';
import { CC_PAGE, DATA_PAGE, extractNdefMessage, parseCapabilityContainer, scanForNdefTlv, type NtagType } from '../core/tag/ntag.js';
import { FAST_READ_PAGES, MAX_READ, fastRead, getUid, readBytes, type TagReader } from './tag-io.js';

export type NfcEvent =
  | { kind: 'tag'; reader: string; uid: string; uri: string; tagType: NtagType | 'unknown'; readMs: number }
  | { kind: 'tag-error'; reader: string; uid?: string; code: ErrorCode; message: string }
  | { kind: 'card-off'; reader: string }
  | { kind: 'reader'; reader: string; attached: boolean }
  | { kind: 'pcsc-error'; message: string }
  /** The watch is connected to pcscd again after a 'pcsc-error' or 'pcsc-unavailable'. */
  | { kind: 'pcsc-restored' }
  /** pcscd did not answer at start: NFC waits for it (the binding is not started, so nothing spins). */
  | { kind: 'pcsc-unavailable'; socket: string; message: string };

export interface TagContent {
  readonly uri: string;
  readonly tagType: NtagType | 'unknown';
}

// Readers found not to pass FAST_READ through are not asked again.
const noFastRead = new WeakSet<TagReader>();

/**
 * `length` bytes from `page` on: FAST_READ (one exchange per 240 bytes) where the reader passes it through,
 * else READ BINARY (one APDU per 16 bytes). Each exchange costs a round trip to the tag (about 45 ms through
 * vpcd), so a 160-byte URI takes 2 exchanges instead of 10.
 */
async function readMore(r: TagReader, page: number, length: number): Promise<Uint8Array> {
  if (length <= MAX_READ || noFastRead.has(r)) return readBytes(r, page, length);
  try {
    const parts: Uint8Array[] = [];
    for (let p = page, left = length / 4; left > 0; ) {
      const n = Math.min(left, FAST_READ_PAGES);
      parts.push(await fastRead(r, p, p + n - 1));
      p += n;
      left -= n;
    }
    return concatBytes(...parts);
  } catch (e) {
    if (isMedtrailError(e, 'NFC_TAG_REMOVED')) throw e;
    noFastRead.add(r);
    return readBytes(r, page, length);
  }
}

/** Reads and decodes the NDEF URI of the NTAG on `r` (UID not included). Throws only MedtrailError. */
export async function readTagUri(r: TagReader): Promise<TagContent> {
  const head = await readBytes(r, CC_PAGE, 16);
  const cc = parseCapabilityContainer(head.subarray(0, 4));
  let area = head.subarray(4);
  for (;;) {
    const scan = scanForNdefTlv(area, cc.dataAreaBytes);
    const want = scan.kind === 'need' ? scan.bytes : scan.valueOffset + scan.length;
    if (want > area.length) {
      // area.length stays a multiple of 4: it starts at 12 and grows by whole pages.
      const more = Math.ceil((want - area.length) / 4) * 4;
      area = concatBytes(area, await readMore(r, DATA_PAGE + area.length / 4, more));
      if (scan.kind === 'need') continue;
    }
    const uri = uriFromNdefMessage(extractNdefMessage(area, cc.dataAreaBytes));
    return { uri, tagType: cc.tagType ?? 'unknown' };
  }
}

export interface NfcWatchOptions {
  /** Only readers whose name passes are watched (default: every reader). */
  readonly readers?: (name: string) => boolean;
  /** How often to look for pcscd again after it went away (default 1,000 ms). */
  readonly retryMs?: number;
}

/** pcsc-lite's client socket: PCSCLITE_CSOCK_NAME when set (as libpcsclite reads it), else Debian's path. */
function pcscdSocket(): string {
  return process.env['PCSCLITE_CSOCK_NAME'] ?? '/run/pcscd/pcscd.comm';
}

/**
 * Whether pcscd accepts a connection on its socket now, and why not (never blocks the event loop). The
 * pcsclite binding must never be started without it: with no pcscd it loops in native code establishing its
 * context, at full CPU, deaf to signals (a known problem of @pokusew/pcsclite 0.6).
 */
function pcscdProbe(): Promise<{ ok: true } | { ok: false; why: string }> {
  return new Promise((resolve) => {
    const c = createConnection(pcscdSocket());
    const done = (r: { ok: true } | { ok: false; why: string }): void => {
      c.destroy();
      resolve(r);
    };
    c.once('connect', () => done({ ok: true }));
    c.once('error', (e) => {
      const code = codeOf(e);
      done({ ok: false, why: code === 'ENOENT' ? 'no pcscd socket there (is pcscd installed and running?)' : code === 'ECONNREFUSED' ? 'nothing listens on that socket' : messageOf(e) });
    });
    c.setTimeout(1000, () => done({ ok: false, why: 'pcscd did not answer within 1 s' }));
  });
}

async function pcscdAnswers(): Promise<boolean> {
  return (await pcscdProbe()).ok;
}

export interface NfcWatch {
  /** Names of the readers currently watched. */
  readonly readers: () => string[];
  close(): void;
}

function errorEvent(reader: string, e: unknown, uid?: string): NfcEvent {
  const err = isMedtrailError(e) ? e : new MedtrailError('NFC_READ_FAILED', messageOf(e), { cause: e });
  return { kind: 'tag-error', reader, ...(uid === undefined ? {} : { uid }), code: err.code, message: err.message };
}

/**
 * Starts watching. `onEvent` gets every event together with the nfc-pcsc reader it came from (still
 * connected to the card for a tag event, e.g. for LED feedback); an exception in `onEvent` is caught.
 */
export function watchNfc(onEvent: (e: NfcEvent, reader: Reader | undefined) => void, options: NfcWatchOptions = {}): NfcWatch {
  let closed = false;
  const emit = (e: NfcEvent, r?: Reader) => {
    if (closed) return; // pcsclite reports the cancelled status wait and the readers' end after close()
    try {
      onEvent(e, r);
    } catch {
      /* a listener's failure must not stop the reader loop */
    }
  };
  const watched = new Map<string, Reader>();
  const retryMs = options.retryMs ?? 1000;
  let nfc: NFC | undefined;
  let retry: NodeJS.Timeout | undefined;

  const connect = (): NFC => {
    const n = new NFC();
    let down = false;
    // The first failure of this connection (pcsclite's or a reader's status thread, whichever says so first).
    const fail = (e: unknown): void => {
      if (down || closed) return;
      down = true;
      emit({ kind: 'pcsc-error', message: messageOf(e) });
      lost();
    };
    n.on('reader', (r: Reader) => {
      const name = r.name;
      if (options.readers && !options.readers(name)) {
        // Not ours: nfc-pcsc would still connect to its cards and process them itself (and throw an unhandled
        // 'error' for an ISO 14443-4 card). Detach it from the reader's status events and swallow its errors.
        r.autoProcessing = false;
        r.reader?.removeAllListeners('status');
        r.on('error', () => {});
        return;
      }
      // Our own processing: nfc-pcsc's would demand an AID for ISO 14443-4 cards and hide read errors.
      r.autoProcessing = false;
      watched.set(name, r);
      emit({ kind: 'reader', reader: name, attached: true }, r);
      r.on('card', (card: { standard?: string }) => void onCard(r, card.standard));
      r.on('card.off', () => emit({ kind: 'card-off', reader: name }, r));
      // A reader whose status watch failed (pcscd went away: "SCardGetStatusChange error: RPC transport
      // error") has lost PC/SC, not read a bad tag.
      r.on('error', (e: unknown) => {
        if (/SCardGetStatusChange/.test(messageOf(e))) fail(e);
        else if (watched.get(name) === r && !down) emit(errorEvent(name, e), r);
      });
      r.on('end', () => detach(name, r));
    });
    n.on('error', fail);
    return n;
  };

  const detach = (name: string, r: Reader): void => {
    if (watched.get(name) !== r) return;
    watched.delete(name);
    emit({ kind: 'reader', reader: name, attached: false });
  };

  /** pcsclite stopped monitoring: drop its readers and come back when pcscd answers again. */
  const lost = (): void => {
    for (const [name, r] of [...watched]) {
      r.removeAllListeners('card');
      r.reader?.removeAllListeners('status');
      detach(name, r);
    }
    // Its status thread has ended (that is what the error says), so close() only joins it.
    try {
      nfc?.close();
    } catch {
      /* already closed */
    }
    if (retry === undefined && !closed) retry = setTimeout(() => void reconnect(), retryMs);
  };

  const reconnect = async (): Promise<void> => {
    retry = undefined;
    if (closed) return;
    if (!(await pcscdAnswers()) || closed) {
      retry = setTimeout(() => void reconnect(), retryMs);
      return;
    }
    try {
      nfc = connect();
      emit({ kind: 'pcsc-restored' });
    } catch (e) {
      emit({ kind: 'pcsc-error', message: messageOf(e) });
      retry = setTimeout(() => void reconnect(), retryMs);
    }
  };

  // Only once pcscd answers: started without it, the binding would spin (pcscdProbe).
  void (async () => {
    const p = await pcscdProbe();
    if (closed) return;
    if (p.ok) {
      nfc = connect();
      return;
    }
    emit({ kind: 'pcsc-unavailable', socket: pcscdSocket(), message: p.why });
    retry = setTimeout(() => void reconnect(), retryMs);
  })();

  async function onCard(r: Reader, standard: string | undefined): Promise<void> {
    const t0 = performance.now();
    let uid: string | undefined;
    try {
      uid = await getUid(r);
      if (standard === TAG_ISO_14443_4) {
        throw new MedtrailError('NFC_NOT_NTAG', 'this card is an ISO 14443-4 smart card, not an NTAG with an NDEF URI');
      }
      const { uri, tagType } = await readTagUri(r);
      emit({ kind: 'tag', reader: r.name, uid, uri, tagType, readMs: performance.now() - t0 }, r);
    } catch (e) {
      emit(errorEvent(r.name, e, uid), r);
    }
  }

  return {
    readers: () => [...watched.keys()],
    close: () => {
      closed = true;
      if (retry !== undefined) clearTimeout(retry);
      // Not reader.close(): @pokusew/pcsclite 0.6 blocks the event loop for good in it (joins a status thread
      // that SCardCancel did not wake) once a card has left that reader. Detaching nfc-pcsc from the readers'
      // status events stops it from connecting to later cards; the threads end with the process.
      for (const r of watched.values()) {
        r.reader?.removeAllListeners('status');
        r.removeAllListeners('card');
      }
      watched.clear();
      nfc?.close();
    },
  };
}
