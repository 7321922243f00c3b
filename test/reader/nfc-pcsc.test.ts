// End to end through the real stack: pcscd + vpcd (virtual reader 0) + nfc-pcsc + reader/nfc.ts, with a
// virtual NTAG as the card. No part of the PC/SC layer is mocked.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fromHex } from '../../core/bytes.js';
import { ntagImage } from '../../core/ntag.js';
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
      // Pages 3-6, then the rest of the TLV in 16-byte reads: no page read twice, none past the TLV.
      const tlv = ntagImage(uri, kind).length;
      expect(card.apdus.filter((a) => a.startsWith('ffb0'))).toHaveLength(1 + Math.ceil((tlv - 1 - 12) / 16));
      await h.lift(card);
    }
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
    await h.next((e) => e.kind === 'card-off');
    const again = new VirtualNtag({ kind: 'NTAG216' }).programUri(URI);
    expect((await h.tap(again)).result).toMatchObject({ kind: 'tag', uri: URI });
    await h.lift(again);
  });
});
