// Random pack serials (AI 21) from a CSPRNG.
//
// Alphabet: a subset of GS1 AI 82 chosen so that a serial survives being read by people and by scanners that
// act as keyboards (docs/architecture.md, Tag payload):
//   - digits 2-9 and upper-case letters only: no 0/O, 1/I/L look-alikes, and no lower case, which a keyboard
//     wedge with Caps Lock on would invert;
//   - no Y or Z (swapped on a German QWERTZ layout) and no A, Q, W (swapped with Q, A, Z on a French AZERTY
//     layout), so that a layout-swapped read produces a character outside the alphabet instead of another
//     plausible serial.
// That leaves 26 symbols: 23456789 BCDEFGHJKMNPRSTUVX.
//
// Guess probability (EU Delegated Regulation 2016/161, art. 4(b): the probability of guessing a serial must be
// negligible and in any case below 1 in 10,000). A guess is a random serial tried against the packs of one
// batch, so p = (packs in the batch) / (possible serials).
//   default length 12: 26^12 = 9.54e16 possible serials (56.4 bits);
//   for a batch of 100,000 packs: p = 1e5 / 9.54e16 = 1.05e-12, about 1 in 950 billion, 10^8 times below the
//   EU bound; the bound itself would allow p < 1e-4, i.e. 26^L > 1e9, so L >= 7 (26^7 = 8.03e9, p = 1.2e-5).
// Each character is drawn by rejection sampling (bytes >= 234 = 9 * 26 are discarded) so that every symbol has
// probability exactly 1/26: a plain `byte % 26` would favour the first 22 symbols by 1/9.
import { MedtrailError } from '../errors.js';

export const SERIAL_ALPHABET = '23456789BCDEFGHJKMNPRSTUVX';

const LIMIT = 256 - (256 % SERIAL_ALPHABET.length); // 234

/** A random serial of `length` (1..20) characters of SERIAL_ALPHABET, from globalThis.crypto. */
export function randomSerial(length = 12): string {
  if (!Number.isSafeInteger(length) || length < 1 || length > 20) {
    throw new MedtrailError('BAD_INPUT', 'serial length must be an integer from 1 to 20 (GS1 AI 21 is X..20)');
  }
  const crypto = globalThis.crypto;
  if (crypto === undefined || typeof crypto.getRandomValues !== 'function') {
    throw new MedtrailError('INTERNAL', 'no CSPRNG: globalThis.crypto.getRandomValues is missing');
  }
  let out = '';
  // 2x oversampling makes a refill rare (acceptance rate 234/256 = 91%).
  const buf = new Uint8Array(length * 2);
  while (out.length < length) {
    crypto.getRandomValues(buf);
    for (let i = 0; i < buf.length && out.length < length; i++) {
      const b = buf[i]!;
      if (b < LIMIT) out += SERIAL_ALPHABET[b % SERIAL_ALPHABET.length]!;
    }
  }
  return out;
}
