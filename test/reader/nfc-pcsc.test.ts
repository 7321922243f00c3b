// End to end through the real stack: pcscd + vpcd (virtual reader 0) + nfc-pcsc + reader/nfc.ts, with a
// virtual NTAG as the card. No part of the PC/SC layer is mocked.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fromHex } from '../../core/bytes.js';
import { encodeUriNdef } from '../../core/tag/ndef.js';
import { ntagImage } from '../../core/tag/ntag.js';
import { signal } from '../../reader/feedback.js';
import { writeUriTag } from '../../reader/tag-write.js';
import { NfcHarness } from '../support/nfc-harness.js';
import { VirtualNtag } from '../support/virtual-ntag.js';

// A Digital Link URI with an Ed25519 signature (86 base64url characters): a 160-byte TLV, too big for an
// NTAG213 (144 bytes), which only takes such a URI with a resolver and identifiers about 16 bytes shorter.
const URI = 'https://id.example.org/01/09506000134352/10/LOT42/21/SER123456?17=271231&s=' + 'A'.repeat(86);
const SHORT_URI = 'https://dl.ex/01/09506000134352/10/L4/21/S1?17=271231&s=' + 'B'.repeat(60);
let h: NfcHarness;

beforeAll(async () => {
  h = await NfcHarness.start(0);
});
afterEach(() => h.liftAll());
afterAll(() => h?.close());

describe('reading taps', () => {
  it('reads the URI and UID of a programmed NTAG213, 215 and 216', async () => {
    for (const kind of ['NTAG213', 'NTAG215', 'NTAG216'] as const) {
      const uri = kind === 'NTAG213' ? SHORT_URI : URI;
      const card = new VirtualNtag({ kind }).programUri(uri);
      const { result } = await h.tap(card);
      expect(result).toMatchObject({ kind: 'tag', reader: h.readerName, uid: '046b2f1a9c5d80', uri, tagType: kind });
      if (result.kind === 'tag') expect(result.readMs).toBeLessThan(1000);
      // UID, pages 3-6, then the rest of the TLV in one FAST_READ: no page read twice, none past the TLV.
      const tlv = 2 + encodeUriNdef(uri).length; // NDEF TLV with its one-byte length, no terminator
      const lastPage = 4 + Math.ceil(tlv / 4) - 1;
      expect(card.apdus).toEqual(['ffca000000', 'ffb0000310', 'ff00000005d4423a07' + lastPage.toString(16).padStart(2, '0')]);
      await h.lift(card);
    }
  });

  it('falls back to 16-byte READ BINARY where FAST_READ is refused', async () => {
    const card = new VirtualNtag({ kind: 'NTAG215', fastRead: false }).programUri(URI);
    expect((await h.tap(card)).result).toMatchObject({ kind: 'tag', uri: URI });
    const tlv = 2 + encodeUriNdef(URI).length;
    expect(card.apdus.filter((a) => a.startsWith('ffb0'))).toHaveLength(1 + Math.ceil((tlv - 12) / 16));
  });

  const failures: [string, () => VirtualNtag, string][] = [
    ['a blank tag as NXP ships it', () => new VirtualNtag(), 'NFC_BLANK_TAG'],
    ['an unformatted tag', () => new VirtualNtag().unformat(), 'NFC_NO_CC'],
    ['a tag with no NDEF TLV', () => new VirtualNtag().setData(fromHex('0103a00c34fe')), 'NFC_NO_NDEF'],
    ['a truncated TLV', () => new VirtualNtag().setData(fromHex('0103a00c34' + '01ff0400')), 'NFC_TLV_TRUNCATED'],
    ['an oversized NDEF TLV', () => new VirtualNtag().setData(fromHex('03ff0200d1')), 'NFC_TLV_TOO_LARGE'],
    ['a text record', () => new VirtualNtag().setData(fromHex('030cd101085402656e6869212121fe')), 'NFC_NOT_URI'],
    ['an ISO 14443-4 card', () => new VirtualNtag({ kind: 'ISO14443-4' }), 'NFC_NOT_NTAG'],
  ];
  for (const [name, make, code] of failures) {
    it(`reports ${name} as ${code}, with the UID`, async () => {
      const card = make();
      const { result } = await h.tap(card);
      expect(result).toMatchObject({ kind: 'tag-error', code, uid: Buffer.from(card.uid).toString('hex') });
      await h.lift(card);
    });
  }

  it('survives a tag pulled away mid-read, then reads the next tap', async () => {
    const card = new VirtualNtag({ kind: 'NTAG216' }).programUri(URI).removeAfterApdus(3);
    const { result } = await h.tap(card);
    expect(result).toMatchObject({ kind: 'tag-error', code: 'NFC_TAG_REMOVED' });
    const again = new VirtualNtag({ kind: 'NTAG216' }).programUri(URI);
    expect((await h.tap(again)).result).toMatchObject({ kind: 'tag', uri: URI });
    await h.lift(again);
  });
});

describe('writing tags', () => {
  /** Taps `card`, expects the tap event, and answers the connected reader handle. */
  async function tapForWrite(card: VirtualNtag) {
    const { reader } = await h.tap(card);
    if (!reader) throw new Error('no reader handle with the tap event');
    return reader;
  }

  it('writes a URI to a blank NTAG215 and reads it back on the next tap', async () => {
    const card = new VirtualNtag({ kind: 'NTAG215' });
    const res = await writeUriTag(await tapForWrite(card), URI);
    expect(res).toEqual({ tagType: 'NTAG215', bytes: ntagImage(URI, 'NTAG215').length, locked: false });
    await h.lift(card);
    expect((await h.tap(card)).result).toMatchObject({ kind: 'tag', uri: URI, tagType: 'NTAG215' });
  });

  it('formats an unformatted tag, telling its type with GET_VERSION', async () => {
    const card = new VirtualNtag({ kind: 'NTAG216' }).unformat();
    expect(await writeUriTag(await tapForWrite(card), URI)).toMatchObject({ tagType: 'NTAG216' });
    expect(Buffer.from(card.page(3)).toString('hex')).toBe('e1106d00');
    expect(card.apdus).toContain('ff00000003d44260');
  });

  it('refuses a URI too big for an NTAG213 before writing anything', async () => {
    const card = new VirtualNtag({ kind: 'NTAG213' });
    const before = card.memory.slice();
    await expect(writeUriTag(await tapForWrite(card), URI)).rejects.toMatchObject({ code: 'NFC_TAG_TOO_SMALL' });
    expect(card.apdus.some((a) => a.startsWith('ffd6'))).toBe(false);
    expect(card.memory).toEqual(before);
  });

  it('locks the tag: CC read-only, static and dynamic lock bits set, a rewrite refused, reads still fine', async () => {
    const card = new VirtualNtag({ kind: 'NTAG213' });
    const r = await tapForWrite(card);
    expect(await writeUriTag(r, SHORT_URI, { lock: true })).toMatchObject({ locked: true });
    expect(card.page(3)[3]).toBe(0x0f);
    for (const p of [3, 4, 15, 16, 39]) expect(card.locked(p)).toBe(true);
    expect(card.locked(41)).toBe(false); // configuration pages stay as they were
    await expect(writeUriTag(r, 'https://other.example/')).rejects.toMatchObject({ code: 'NFC_TAG_LOCKED' });
    await h.lift(card);
    expect((await h.tap(card)).result).toMatchObject({ kind: 'tag', uri: SHORT_URI });
  });

  it('a tag pulled away mid-write is left with an empty NDEF message, never a cut URI', async () => {
    const card = new VirtualNtag({ kind: 'NTAG216' }).removeAfterApdus(2 + 10); // UID and pages 3-6 of the tap, header, then 9 page writes
    const r = await tapForWrite(card);
    await expect(writeUriTag(r, URI)).rejects.toMatchObject({ code: 'NFC_TAG_REMOVED' });
    expect(card.apdus.filter((a) => a.startsWith('ffd6')).length).toBeGreaterThan(3);
    expect((await h.tap(card)).result).toMatchObject({ kind: 'tag-error', code: 'NFC_BLANK_TAG' });
  });
});

describe('LED and buzzer feedback', () => {
  it('does nothing, without throwing, on a reader that has no LED', async () => {
    const card = new VirtualNtag().programUri(SHORT_URI);
    const { reader } = await h.tap(card);
    expect(await signal(reader!, 'ok')).toBe(false);
    await h.lift(card);
    expect(await signal(reader!, 'alert')).toBe(false); // no card: escape control, refused by vpcd
  });

  it('sends green/one beep and red/three beeps to an ACR122U-like reader', async () => {
    const card = new VirtualNtag({ led: true }).programUri(SHORT_URI);
    const { reader } = await h.tap(card);
    expect(await signal(reader!, 'ok')).toBe(true);
    expect(await signal(reader!, 'alert')).toBe(true);
    expect(card.ledCommands).toEqual(['ff0040a804050101' + '01', 'ff00405404020203' + '01']);
  });
});
