// A virtual NTAG213/215/216 (or an ISO 14443-4 card) that plays the card in vpcd's slot, answering the PC/SC
// pseudo-APDUs an ACR122U-class reader accepts. vpcd protocol (vsmartcard docs): vpcd listens on TCP; the
// card connects; every message either way is a 2-byte big-endian length then the payload. A 1-byte payload
// from vpcd is a control code (0x00 power off, 0x01 power on, 0x02 reset: no answer; 0x04: answer the ATR);
// anything longer is a C-APDU answered with one R-APDU. pcscd polls 0x04 about every 400 ms for presence.
//
// Pseudo-APDUs answered (ACR122U API):
//   FF CA 00 00 00               get UID                       -> UID || 90 00
//   FF B0 00 <page> <n<=16>      read binary from a page       -> n bytes (rolls over past the last page)
//   FF D6 00 <page> 04 <4 bytes> update binary, one page       -> 90 00, or 63 00 if locked / read-only
//   FF 00 00 00 <n> D4 42 <cmd>  direct transmit (PN533 InCommunicateThru) of an NTAG command:
//        3C 00 READ_SIG -> D5 43 00 <32-byte signature> 90 00;  60 GET_VERSION -> D5 43 00 <8 bytes> 90 00;
//        3A <start> <end> FAST_READ -> D5 43 00 <pages start..end> 90 00 (unless created with fastRead: false)
//   FF 00 40 <led> 04 <t1> <t2> <reps> <buzzer>  LED/buzzer: 6A 81 unless created with { led: true }
// Lock bits are honoured as the NTAG21x datasheet defines them (static: page 2 bytes 2-3 for pages 3-15;
// dynamic: bytes 0-1 of the dynamic lock page, 2 pages per bit on NTAG213, 16 on NTAG215/216); block-lock
// bits are stored but not enforced.
import net from 'node:net';
import { NTAG_LAYOUT, ccFor, ntagImage, type NtagType } from '../../core/tag/ntag.js';
import { VPCD_PORTS } from './pcscd.js';

export type VirtualCardKind = NtagType | 'ISO14443-4';

/** PC/SC part 3 ATR of a contactless storage card, card name 00 03 (Ultralight family; ACR122U shows NTAGs so). */
export const ATR_NTAG = Uint8Array.from([0x3b, 0x8f, 0x80, 0x01, 0x80, 0x4f, 0x0c, 0xa0, 0x00, 0x00, 0x03, 0x06, 0x03, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x68]);
/** ATR an ACR122U gives for an ISO 14443-4 card without historical bytes (e.g. DESFire). */
export const ATR_ISO14443_4 = Uint8Array.from([0x3b, 0x81, 0x80, 0x01, 0x80, 0x80]);

const OK = [0x90, 0x00];
const FAIL = [0x63, 0x00];
const NOT_SUPPORTED = [0x6a, 0x81];
const WRONG_LENGTH = [0x67, 0x00];
const VERSION_SIZE: Record<NtagType, number> = { NTAG213: 0x0f, NTAG215: 0x11, NTAG216: 0x13 };

export interface VirtualNtagOptions {
  readonly kind?: VirtualCardKind;
  /** 7 bytes for an NTAG (first byte 0x04, NXP); defaults to a fixed test UID. */
  readonly uid?: Uint8Array;
  /** 32-byte originality signature answered to READ_SIG. */
  readonly signature?: Uint8Array;
  /** Answer the ACR122U LED/buzzer command as a real ACR122U does (90 <led>) and record it. */
  readonly led?: boolean;
  /** Answer FAST_READ (default true); false plays a reader that only offers READ BINARY. */
  readonly fastRead?: boolean;
}

export class VirtualNtag {
  readonly kind: VirtualCardKind;
  readonly uid: Uint8Array;
  readonly memory: Uint8Array;
  readonly signature: Uint8Array;
  /** Every C-APDU received, as hex, in order. */
  readonly apdus: string[] = [];
  /** LED/buzzer commands received (hex), when created with { led: true }. */
  readonly ledCommands: string[] = [];
  private readonly led: boolean;
  private readonly fastRead: boolean;
  private socket: net.Socket | undefined;
  private removeAfter = Infinity;

  constructor(options: VirtualNtagOptions = {}) {
    this.kind = options.kind ?? 'NTAG213';
    this.uid = options.uid ?? Uint8Array.from([0x04, 0x6b, 0x2f, 0x1a, 0x9c, 0x5d, 0x80]);
    this.signature = options.signature ?? new Uint8Array(32);
    this.led = options.led ?? false;
    this.fastRead = options.fastRead ?? true;
    const pages = this.kind === 'ISO14443-4' ? 0 : NTAG_LAYOUT[this.kind].pages;
    this.memory = new Uint8Array(pages * 4);
    if (this.kind !== 'ISO14443-4') this.factoryFormat(this.kind);
  }

  /** NXP's delivery state: UID and BCCs, CC for the type, empty NDEF TLV, default configuration. */
  private factoryFormat(t: NtagType): void {
    const u = this.uid;
    const m = this.memory;
    m.set([u[0]!, u[1]!, u[2]!, 0x88 ^ u[0]! ^ u[1]! ^ u[2]!, u[3]!, u[4]!, u[5]!, u[6]!], 0);
    m.set([u[3]! ^ u[4]! ^ u[5]! ^ u[6]!, 0x48, 0x00, 0x00], 8);
    m.set(ccFor(t), 12);
    m.set([0x03, 0x00, 0xfe], 16);
    const d = NTAG_LAYOUT[t].dynLockPage * 4;
    m.set([0x00, 0x00, 0x00, 0xbd, 0x04, 0x00, 0x00, 0xff, 0x00, 0x05, 0x00, 0x00], d);
  }

  get pages(): number {
    return this.memory.length / 4;
  }

  /** Unformatted: CC and data area zero (a tag as some vendors ship it). */
  unformat(): this {
    this.memory.fill(0, 12, NTAG_LAYOUT[this.ntag()].dynLockPage * 4);
    return this;
  }

  /** Programs `uri` as one NDEF URI record, as medtrail tag write would. */
  programUri(uri: string): this {
    return this.setData(ntagImage(uri, this.ntag()));
  }

  /** Raw data-area bytes from page 4 (the rest of user memory is zeroed): for malformed TLVs. */
  setData(bytes: Uint8Array): this {
    const layout = NTAG_LAYOUT[this.ntag()];
    if (bytes.length > layout.userBytes) throw new Error('more bytes than user memory');
    this.memory.fill(0, 16, 16 + layout.userBytes);
    this.memory.set(bytes, 16);
    return this;
  }

  /** Sets raw bytes at a page (CC, lock bytes...). */
  setPage(page: number, bytes: ArrayLike<number>): this {
    this.memory.set(bytes, page * 4);
    return this;
  }

  page(page: number): Uint8Array {
    return this.memory.slice(page * 4, page * 4 + 4);
  }

  /** Answers n more APDUs, then closes the connection on the next one: the tag leaves the field mid-read. */
  removeAfterApdus(n: number): this {
    this.removeAfter = this.apdus.length + n;
    return this;
  }

  /** Puts the card on virtual reader `index` (connects to vpcd). */
  tap(index: 0 | 1 = 0, host = '127.0.0.1'): Promise<void> {
    if (this.socket) throw new Error('already tapped');
    return new Promise((resolve, reject) => {
      const s = net.connect(VPCD_PORTS[index], host);
      this.socket = s;
      s.setNoDelay(true);
      let buf = Buffer.alloc(0);
      s.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
          buf = buf.subarray(2 + msg.length);
          const answer = this.onMessage(msg);
          if (answer === 'remove') return void this.remove();
          if (answer !== undefined) this.send(answer);
        }
      });
      s.once('connect', () => resolve());
      s.once('error', (e) => reject(e));
      s.once('close', () => {
        if (this.socket === s) this.socket = undefined;
      });
    });
  }

  /** Takes the card away (closes the connection); resolves once it is closed. */
  remove(): Promise<void> {
    const s = this.socket;
    this.socket = undefined;
    if (!s || s.destroyed) return Promise.resolve();
    return new Promise((r) => {
      s.once('close', () => r());
      s.destroy();
    });
  }

  get present(): boolean {
    return this.socket !== undefined;
  }

  private send(data: ArrayLike<number>): void {
    const out = Buffer.alloc(2 + data.length);
    out.writeUInt16BE(data.length, 0);
    out.set(data, 2);
    this.socket?.write(out);
  }

  private ntag(): NtagType {
    if (this.kind === 'ISO14443-4') throw new Error('not an NTAG');
    return this.kind;
  }

  private onMessage(msg: Buffer): number[] | Uint8Array | 'remove' | undefined {
    if (msg.length === 1) {
      if (msg[0] === 0x04) return this.kind === 'ISO14443-4' ? ATR_ISO14443_4 : ATR_NTAG;
      return undefined; // power on / off / reset: nothing to answer, memory survives like EEPROM
    }
    this.apdus.push(msg.toString('hex'));
    if (this.apdus.length > this.removeAfter) {
      this.removeAfter = Infinity; // one removal: the next tap works
      return 'remove';
    }
    return this.apdu(msg);
  }

  private apdu(c: Buffer): number[] {
    const [cla, ins, p1, p2, p3] = [c[0], c[1], c[2], c[3], c[4] ?? 0];
    if (cla !== 0xff) return [0x6e, 0x00];
    if (ins === 0xca && p1 === 0x00) return [...this.uid, ...OK];
    if (ins === 0x00 && p1 === 0x40) {
      if (!this.led) return NOT_SUPPORTED;
      this.ledCommands.push(c.toString('hex'));
      return [0x90, p2 ?? 0];
    }
    if (this.kind === 'ISO14443-4') return NOT_SUPPORTED;
    const page = ((p1 ?? 0) << 8) | (p2 ?? 0);
    if (ins === 0xb0) return this.read(page, p3);
    if (ins === 0xd6) return c.length === 9 && p3 === 4 ? this.write(page, c.subarray(5, 9)) : WRONG_LENGTH;
    if (ins === 0x00 && p1 === 0x00 && c[5] === 0xd4 && c[6] === 0x42) return this.direct(c.subarray(7));
    return NOT_SUPPORTED;
  }

  private read(page: number, n: number, fast = false): number[] {
    if (n === 0 || (n > 16 && !fast)) return WRONG_LENGTH;
    if (page >= this.pages) return FAIL; // the tag NAKs a READ beyond its last page
    const out: number[] = [];
    const pwdPage = this.pages - 2; // PWD and PACK always read as zero
    for (let i = 0; i < n; i++) {
      const p = (page + Math.floor(i / 4)) % this.pages;
      out.push(p >= pwdPage ? 0 : this.memory[p * 4 + (i % 4)]!);
    }
    return [...out, ...OK];
  }

  private write(page: number, data: Buffer): number[] {
    const t = this.ntag();
    const dyn = NTAG_LAYOUT[t].dynLockPage;
    if (page < 2 || page >= this.pages) return FAIL;
    const at = page * 4;
    if (page === 2) {
      // Bytes 0-1 (BCC1, internal) are not writable; lock bytes only ever gain bits.
      this.memory[10]! |= data[2]!;
      this.memory[11]! |= data[3]!;
      return OK;
    }
    if (this.locked(page)) return FAIL;
    if (page === 3) {
      for (let i = 0; i < 4; i++) this.memory[at + i]! |= data[i]!; // CC is one-time programmable
      return OK;
    }
    if (page === dyn) {
      for (let i = 0; i < 3; i++) this.memory[at + i]! |= data[i]!;
      return OK;
    }
    this.memory.set(data, at);
    return OK;
  }

  /** Whether a page is write-protected by the static or dynamic lock bits. */
  locked(page: number): boolean {
    const m = this.memory;
    if (page >= 3 && page <= 7) return ((m[10]! >> page) & 1) === 1;
    if (page >= 8 && page <= 15) return ((m[11]! >> (page - 8)) & 1) === 1;
    const t = this.ntag();
    const dyn = NTAG_LAYOUT[t].dynLockPage;
    if (page < 16 || page >= dyn) return false;
    const bit = Math.floor((page - 16) / (t === 'NTAG213' ? 2 : 16));
    return ((m[dyn * 4 + (bit >> 3)]! >> (bit & 7)) & 1) === 1;
  }

  private direct(cmd: Buffer): number[] {
    const ok = (data: ArrayLike<number>) => [0xd5, 0x43, 0x00, ...Array.from(data), ...OK];
    if (cmd[0] === 0x3c && cmd[1] === 0x00) return ok(this.signature);
    if (cmd[0] === 0x3a && this.fastRead) {
      const [start, end] = [cmd[1] ?? 0, cmd[2] ?? 0];
      if (start > end || end >= this.pages) return [0xd5, 0x43, 0x01, ...OK];
      return ok(this.read(start, (end - start + 1) * 4, true).slice(0, -2));
    }
    if (cmd[0] === 0x60) return ok([0x00, 0x04, 0x04, 0x02, 0x01, 0x00, VERSION_SIZE[this.ntag()], 0x03]);
    return [0xd5, 0x43, 0x01, ...OK]; // PN533 status 01: timeout, as when the tag does not answer
  }
}
