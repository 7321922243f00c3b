// core/log/cosignature.ts: tlog-cosignature/v1 (Ed25519, type 0x04) held to the published vectors of
// test/vectors/c2sp/witness.json (sigsum-go's cosignature byte for byte, the C2SP examples, transparency-dev's
// keys), then every malformed variant, tweetnacl against node:crypto, and signed-note's rules for known keys.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromBase64, fromHex, toHex, utf8 } from '../../core/bytes.js';
import { naclEd25519, publicKeyFromSeed, useEd25519 } from '../../core/crypto/ed25519.js';
import { installNodeCrypto, nodeEd25519 } from '../../core/crypto/ed25519-node.js';
import { sha256 } from '../../core/crypto/hash.js';
import { checkpointBody, keyHash, parseNote, signCheckpoint } from '../../core/log/checkpoint.js';
import {
  addSignatureLines,
  cosignatureLine,
  cosignedMessage,
  cosignerKey,
  cosignerKeyId,
  cosignerVerifierKey,
  decodeCosignature,
  parseCosignerVerifierKey,
  parseSignatureLines,
  verifyCosignatures,
} from '../../core/log/cosignature.js';
import { expectCode, throwsOnlyCoded } from '../support/expect-code.js';

installNodeCrypto();

const here = path.dirname(fileURLToPath(import.meta.url));
const V = JSON.parse(readFileSync(path.resolve(here, '../vectors/c2sp/witness.json'), 'utf8')) as {
  cosignatures: { seedHex: string; name: string; timestamp: number; body: string; line: string; otherKeyId: string; otherName: string; wrongSize: string };
  specCosignature: { note: string; witnessName: string; keyIdHex: string; timestamp: number; signedMessage: string };
  cosignerKeys: { vkey: string; timestampSignature: string; timestamp: number; notACosignature: string };
};

describe('published vectors', () => {
  const c = V.cosignatures;
  const seed = fromHex(c.seedHex);
  const key = cosignerKey(c.name, publicKeyFromSeed(seed));

  it('reproduces sigsum-go’s cosignature line byte for byte, and verifies it', () => {
    expect(cosignatureLine(c.body, c.name, seed, c.timestamp)).toBe(c.line);
    const { cosigned } = verifyCosignatures(`${c.body}\n${c.line}`, [key]);
    expect(cosigned).toEqual([{ key, timestamp: 1234 }]);
    // The key ID is the 0x04 one, not the 0x01 one of a log key with the same name and key.
    expect(toHex(key.keyId)).toBe(toHex(fromBase64(c.line.split(' ')[2]!.trim()).slice(0, 4)));
    expect(toHex(key.keyId)).not.toBe(toHex(keyHash(c.name, key.publicKey)));
  });

  it('ignores lines of other key IDs and names; refuses its own key’s line of the wrong size', () => {
    const note = (lines: string): string => `${c.body}\n${lines}`;
    expect(verifyCosignatures(note(c.otherKeyId + c.line + c.otherName), [key]).cosigned).toHaveLength(1);
    expect(verifyCosignatures(note(c.otherKeyId + c.otherName), [key]).cosigned).toHaveLength(0);
    expectCode(() => verifyCosignatures(note(c.line + c.wrongSize), [key]), 'COSIGNATURE_MALFORMED');
    // One changed byte of the checkpoint, or another time: the signature no longer holds.
    expectCode(() => verifyCosignatures(note(c.line).replace('\n10\n', '\n11\n'), [key]), 'COSIGNATURE_BAD_SIGNATURE');
    const otherTime = cosignatureLine(c.body, c.name, seed, 1235);
    const raw = fromBase64(otherTime.split(' ')[2]!.trim());
    const mixed = fromBase64(c.line.split(' ')[2]!.trim());
    mixed.set(raw.subarray(4, 12), 4); // the timestamp of one, the signature of the other
    const forged = `\u2014 ${c.name} ${Buffer.from(mixed).toString('base64')}\n`;
    expectCode(() => verifyCosignatures(note(forged), [key]), 'COSIGNATURE_BAD_SIGNATURE');
  });

  it('reads the C2SP example: key ID, timestamp, and the spec’s signed message rebuilt', () => {
    const s = V.specCosignature;
    const { body, signatures } = parseNote(s.note);
    const w = signatures.find((x) => x.name === s.witnessName)!;
    const cs = decodeCosignature(w);
    expect(toHex(cs.keyId)).toBe(s.keyIdHex);
    expect(cs.timestamp).toBe(s.timestamp);
    expect(cosignedMessage(body, cs.timestamp)).toEqual(utf8(s.signedMessage));
    // The log's own line is a 0x01 signature of 64 bytes: not a cosignature.
    expectCode(() => decodeCosignature(signatures[0]!), 'COSIGNATURE_MALFORMED');
  });

  it('parses transparency-dev’s native 0x04 verifier key and reads its cosignature’s time', () => {
    const k = V.cosignerKeys;
    const p = parseCosignerVerifierKey(k.vkey);
    expect(p.name).toBe('remora.n621.de');
    expect(toHex(p.keyId)).toBe('da77ade7');
    expect(cosignerVerifierKey(p.name, p.publicKey)).toBe(k.vkey);
    const raw = fromBase64(k.timestampSignature);
    expect(decodeCosignature({ name: 'w', keyHash: raw.slice(0, 4), signature: raw.slice(4) }).timestamp).toBe(k.timestamp);
    const plain = fromBase64(k.notACosignature);
    expectCode(() => decodeCosignature({ name: 'w', keyHash: plain.slice(0, 4), signature: plain.slice(4) }), 'COSIGNATURE_MALFORMED');
  });
});

describe('verifier keys', () => {
  const seed = sha256(utf8('witness test key'));
  const pub = publicKeyFromSeed(seed);
  const vkey = cosignerVerifierKey('witness.example/w1', pub);

  it('round-trips with key ID SHA-256(name || 0x0A || 0x04 || key)[:4]', () => {
    expect(vkey).toMatch(/^witness\.example\/w1\+[0-9a-f]{8}\+B[A-Za-z0-9+/]{43}$/); // 0x04 || key: base64 starts with B
    expect(cosignerKeyId('witness.example/w1', pub)).toEqual(sha256(new Uint8Array([...utf8('witness.example/w1\n'), 4, ...pub])).slice(0, 4));
    expect(parseCosignerVerifierKey(vkey)).toEqual(cosignerKey('witness.example/w1', pub));
  });

  it('refuses a log key (0x01), a wrong key ID, a bad name, bad base64, and never throws uncoded', () => {
    const logVkey = `witness.example/w1+${toHex(keyHash('witness.example/w1', pub))}+${Buffer.from([1, ...pub]).toString('base64')}`;
    expectCode(() => parseCosignerVerifierKey(logVkey), 'VKEY_MALFORMED');
    expectCode(() => parseCosignerVerifierKey(vkey.replace(/\+[0-9a-f]{8}\+/, '+00000000+')), 'VKEY_MALFORMED');
    expectCode(() => parseCosignerVerifierKey(`a b${vkey.slice(vkey.indexOf('+'))}`), 'VKEY_MALFORMED');
    expectCode(() => parseCosignerVerifierKey(`${vkey.slice(0, -2)}!!`), 'VKEY_MALFORMED');
    expectCode(() => parseCosignerVerifierKey('w+12345678'), 'VKEY_MALFORMED');
    fc.assert(fc.property(fc.string({ maxLength: 120 }), (s) => throwsOnlyCoded(() => parseCosignerVerifierKey(s))));
  });
});

describe('signing and verifying', () => {
  const seed = sha256(utf8('witness test key'));
  const key = cosignerKey('witness.example/w1', publicKeyFromSeed(seed));
  const logSeed = sha256(utf8('log test key'));
  const cp = { origin: 'medtrail.example/log', size: 42, root: sha256(utf8('root')), extensions: ['medtrail-map AAAA'] };
  const note = signCheckpoint(cp, 'medtrail.example/log', logSeed);
  const body = checkpointBody(cp);

  it('covers extension lines and the time; tweetnacl gives the same line as node:crypto', () => {
    const line = cosignatureLine(body, key.name, seed, 1_700_000_000);
    const both = addSignatureLines(note, line);
    expect(verifyCosignatures(both, [key]).cosigned[0]!.timestamp).toBe(1_700_000_000);
    expectCode(() => verifyCosignatures(both.replace('medtrail-map AAAA', 'medtrail-map AAAB'), [key]), 'COSIGNATURE_BAD_SIGNATURE');
    useEd25519(naclEd25519);
    try {
      expect(cosignatureLine(body, key.name, seed, 1_700_000_000)).toBe(line);
      expect(verifyCosignatures(both, [key]).cosigned).toHaveLength(1);
    } finally {
      useEd25519(nodeEd25519);
    }
  });

  it('timestamps: up to 2^53 - 1 round-trip; 0 and fractions are not signed; past 2^53 is malformed', () => {
    for (const t of [1, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1]) {
      const line = cosignatureLine(body, key.name, seed, t);
      expect(verifyCosignatures(`${body}\n${line}`, [key]).cosigned[0]!.timestamp).toBe(t);
    }
    expectCode(() => cosignatureLine(body, key.name, seed, 0), 'BAD_INPUT');
    expectCode(() => cosignatureLine(body, key.name, seed, 1.5), 'BAD_INPUT');
    const raw = fromBase64(cosignatureLine(body, key.name, seed, 5).split(' ')[2]!.trim());
    raw[4] = 0x00;
    raw[5] = 0x20; // 2^53
    expectCode(() => decodeCosignature({ name: key.name, keyHash: raw.slice(0, 4), signature: raw.slice(4) }), 'COSIGNATURE_MALFORMED');
  });

  it('addSignatureLines keeps the order, leaves out lines already there, refuses blank lines', () => {
    const a = cosignatureLine(body, key.name, seed, 10);
    const b = cosignatureLine(body, key.name, seed, 11);
    const once = addSignatureLines(note, a + b);
    expect(addSignatureLines(once, a)).toBe(once);
    expect(once.endsWith(a + b)).toBe(true);
    expect(verifyCosignatures(once, [key]).cosigned[0]!.timestamp).toBe(11);
    expectCode(() => parseSignatureLines(`${a}\n${b}`), 'CHECKPOINT_MALFORMED');
    expectCode(() => parseSignatureLines(a.trimEnd()), 'CHECKPOINT_MALFORMED');
  });
});
