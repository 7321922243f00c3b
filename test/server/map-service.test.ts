// The state maps' fast key and value hashing (server/map/map-service.ts) gives exactly the bytes of the checked
// functions every client uses (core/map/pack-map.ts), for valid identities and records.
import { describe, expect, it } from 'vitest';
import { installNodeCrypto } from '../../core/crypto/ed25519-node.js';
import { randomSerial } from '../../core/gs1/serial.js';
import { packMapKey, packValueHash } from '../../core/map/pack-map.js';
import { packKeyOf, packValueOf } from '../../server/map/map-service.js';

installNodeCrypto();

describe('packKeyOf and packValueOf', () => {
  it('equal packMapKey and packValueHash', () => {
    const lastEntry = new Uint8Array(32).fill(9);
    for (let i = 0; i < 500; i++) {
      const serial = i === 0 ? 'A' : i === 1 ? 'x'.repeat(20) : randomSerial();
      expect(packKeyOf('04012345000771', serial)).toEqual(packMapKey('4012345000771', serial));
      const state = ['active', 'in_transit', 'dispensed', 'free_sample'][i % 4]!;
      const lot = i % 3 === 0 ? 'L' : `LOT-${i}-${'9'.repeat(i % 10)}`;
      expect(packValueOf(state, lot, '301231', '4000000000020', lastEntry)).toEqual(packValueHash({ state, lot, expiry: '301231', maker: '4000000000020', lastEntry }));
    }
  });
});
