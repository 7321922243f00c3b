// core/log/checkpoint.ts: C2SP checkpoints in signed notes, held to the Go reference's published keys and notes
// (test/vectors/c2sp, sources in its README), then every malformed variant one by one, then random input.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromBase64, toBase64, toHex } from '../../core/bytes.js';
import {
  checkpointBody,
  keyHash,
  openCheckpoint,
  parseCheckpointBody,
  parseNote,
  parseVerifierKey,
  signCheckpoint,
  signNote,
  verifierKey,
  type Checkpoint,
} from '../../core/log/checkpoint.js';
import { naclEd25519, publicKeyFromSeed, useEd25519 } from '../../core/crypto/ed25519.js';
import { installNodeCrypto, nodeEd25519 } from '../../core/crypto/ed25519-node.js';
import { isMedtrailError, MedtrailError, type ErrorCode } from '../../core/errors.js';
import { sha256 } from '../../core/crypto/hash.js';

installNodeCrypto();

const here = path.dirname(fileURLToPath(import.meta.url));
const V = JSON.parse(readFileSync(path.resolve(here, '../vectors/c2sp/notes.json'), 'utf8')) as {
  signing: { signerKey: string; verifierKey: string; text: string; note: string };
  verifierKeys: { vkey: string; name: string; keyHash: string }[];
  checkpoints: { vkey: string; note: string; origin: string; size: number; root: string }[];
};

function codeOf(run: () => unknown): ErrorCode | 'none' {
  try {
    run();
    return 'none';
  } catch (e) {
    if (!isMedtrailError(e)) throw e;
    return e.code;
  }
}

const seed = sha256(new TextEncoder().encode('medtrail checkpoint test key'));
const NAME = 'medtrail.example/log';
const VKEY = verifierKey(NAME, publicKeyFromSeed(seed));
const cp: Checkpoint = { origin: NAME, size: 1234567, root: sha256(new Uint8Array([1])), extensions: [] };
const NOTE = signCheckpoint(cp, NAME, seed);

describe('published vectors (Go sumdb/note, sum.golang.org)', () => {
  it('reproduces the Go example signed note byte for byte from its signer key', () => {
    const skey = V.signing.signerKey.split('+'); // PRIVATE+KEY+<name>+<hash>+<base64(0x01 || seed)>
    const raw = fromBase64(skey.slice(4).join('+'));
    expect(raw[0]).toBe(1);
    const goSeed = raw.slice(1);
    const name = skey[2]!;
    expect(verifierKey(name, publicKeyFromSeed(goSeed))).toBe(V.signing.verifierKey);
    expect(toHex(keyHash(name, publicKeyFromSeed(goSeed)))).toBe(skey[3]);
    expect(signNote(V.signing.text, name, goSeed)).toBe(V.signing.note);
    const parsed = parseNote(V.signing.note);
    expect(parsed.body).toBe(V.signing.text);
    expect(parsed.signatures).toHaveLength(1);
    expect(parsed.signatures[0]!.name).toBe('PeterNeumann');
    expect(toHex(parsed.signatures[0]!.keyHash)).toBe('c74f20a3');
    expect(parsed.signatures[0]!.signature).toHaveLength(64);
  });

  it('parses the published verifier keys and recomputes their key IDs', () => {
    for (const k of V.verifierKeys) {
      const p = parseVerifierKey(k.vkey);
      expect(p.name).toBe(k.name);
      expect(toHex(p.keyHash)).toBe(k.keyHash);
      expect(toHex(keyHash(p.name, p.publicKey))).toBe(k.keyHash);
      expect(verifierKey(p.name, p.publicKey)).toBe(k.vkey);
    }
    // A mistyped sum.golang.org key (same name and ID, other key bytes) fails the key ID check.
    expect(codeOf(() => parseVerifierKey('sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ww0ZIPm5tlnBJT5Ws'))).toBe('VKEY_MALFORMED');
  });

  it('opens tree heads signed by sum.golang.org, ignoring an unknown cosigner', () => {
    for (const c of V.checkpoints) {
      const opened = openCheckpoint(c.note, c.vkey);
      expect(opened).toEqual({ origin: c.origin, size: c.size, root: fromBase64(c.root), extensions: [] });
      // One changed character of the signed text breaks the signature.
      const tampered = c.note.replace(String(c.size), String(c.size + 1));
      expect(codeOf(() => openCheckpoint(tampered, c.vkey))).toBe('CHECKPOINT_BAD_SIGNATURE');
    }
    expect(parseNote(V.checkpoints[1]!.note).signatures.map((s) => s.name)).toEqual(['sum.golang.org', 'test.example.com']);
    // The right note under another trusted key: no signature by that key.
    expect(codeOf(() => openCheckpoint(V.checkpoints[0]!.note, V.verifierKeys[1]!.vkey))).toBe('CHECKPOINT_UNKNOWN_KEY');
  });
});

describe('sign and open', () => {
  it('round-trips, with the format the C2SP texts give', () => {
    expect(checkpointBody(cp)).toBe(`${NAME}\n1234567\n${toBase64(cp.root)}\n`);
    expect(NOTE.startsWith(`${checkpointBody(cp)}\n\u2014 ${NAME} `)).toBe(true);
    expect(NOTE.endsWith('\n')).toBe(true);
    expect(openCheckpoint(NOTE, VKEY)).toEqual(cp);
    expect(VKEY).toMatch(/^medtrail\.example\/log\+[0-9a-f]{8}\+A[A-Za-z0-9+/]{43}$/); // 33 bytes: 0x01 || key
  });

  it('carries extension lines and size 0', () => {
    const ext = { origin: NAME, size: 0, root: sha256(new Uint8Array(0)), extensions: ['ext one', 'ext two'] };
    expect(openCheckpoint(signCheckpoint(ext, NAME, seed), VKEY)).toEqual(ext);
  });

  it('tweetnacl and node:crypto produce the same note', () => {
    useEd25519(naclEd25519);
    try {
      expect(signCheckpoint(cp, NAME, seed)).toBe(NOTE);
      expect(openCheckpoint(NOTE, VKEY)).toEqual(cp);
    } finally {
      useEd25519(nodeEd25519); // installNodeCrypto() is once-only
    }
  });

  it('accepts other keys’ lines before and after its own, and refuses a bad one of its own anywhere', () => {
    const other = sha256(new Uint8Array([9]));
    const cosig = signNote(checkpointBody(cp), 'witness.example', other).split('\n\n')[1]!;
    const own = NOTE.split('\n\n')[1]!;
    const body = checkpointBody(cp);
    expect(openCheckpoint(`${body}\n${cosig}${own}`, VKEY)).toEqual(cp);
    expect(openCheckpoint(`${body}\n${own}${cosig}`, VKEY)).toEqual(cp);
    // A second line by the same key that does not verify spoils the note (signed-note: a known key's signature is always checked).
    const forged = signNote('something else\n', NAME, seed).split('\n\n')[1]!;
    expect(codeOf(() => openCheckpoint(`${body}\n${own}${forged}`, VKEY))).toBe('CHECKPOINT_BAD_SIGNATURE');
    expect(codeOf(() => openCheckpoint(`${body}\n${cosig}`, VKEY))).toBe('CHECKPOINT_UNKNOWN_KEY');
  });

  it('verifies before parsing: a signed note whose text is no checkpoint is malformed only once trusted', () => {
    const note = signNote('not a checkpoint\n', NAME, seed);
    expect(codeOf(() => openCheckpoint(note, VKEY))).toBe('CHECKPOINT_MALFORMED');
    const stranger = signNote('not a checkpoint\n', 'stranger.example', seed);
    expect(codeOf(() => openCheckpoint(stranger, VKEY))).toBe('CHECKPOINT_UNKNOWN_KEY');
  });
});

describe('malformed notes, one by one', () => {
  const body = checkpointBody(cp);
  const sigLine = NOTE.slice(body.length + 1); // "— name base64\n"
  const sigB64 = sigLine.slice(`\u2014 ${NAME} `.length, -1);
  const raw = fromBase64(sigB64);
  const cases: [string, string, ErrorCode][] = [
    ['no blank line', body + sigLine, 'CHECKPOINT_MALFORMED'],
    ['no signature lines', body + '\n', 'CHECKPOINT_MALFORMED'],
    ['no final newline', NOTE.slice(0, -1), 'CHECKPOINT_MALFORMED'],
    ['blank line after the signatures', NOTE + '\n', 'CHECKPOINT_MALFORMED'],
    ['hyphen instead of em dash', body + '\n- ' + sigLine.slice(2), 'CHECKPOINT_MALFORMED'],
    ['en dash instead of em dash', body + '\n\u2013' + sigLine.slice(1), 'CHECKPOINT_MALFORMED'],
    ['no space after the dash', body + '\n\u2014' + sigLine.slice(2), 'CHECKPOINT_MALFORMED'],
    ['two spaces after the dash', body + '\n\u2014 ' + sigLine.slice(1), 'CHECKPOINT_MALFORMED'],
    ['no signature after the name', `${body}\n\u2014 ${NAME}\n`, 'CHECKPOINT_MALFORMED'],
    ['empty signature', `${body}\n\u2014 ${NAME} \n`, 'CHECKPOINT_MALFORMED'],
    ['two spaces before the signature', `${body}\n\u2014 ${NAME}  ${sigB64}\n`, 'CHECKPOINT_MALFORMED'],
    ['trailing space', `${body}\n\u2014 ${NAME} ${sigB64} \n`, 'CHECKPOINT_MALFORMED'],
    ['empty key name', `${body}\n\u2014  ${sigB64}\n`, 'CHECKPOINT_MALFORMED'],
    ['plus in the key name', `${body}\n\u2014 a+b ${sigB64}\n`, 'CHECKPOINT_MALFORMED'],
    ['no-break space in the key name', `${body}\n\u2014 a\u00a0b ${sigB64}\n`, 'CHECKPOINT_MALFORMED'],
    ['base64url alphabet in the signature', `${body}\n\u2014 ${NAME} -${sigB64.slice(1)}\n`, 'CHECKPOINT_MALFORMED'],
    ['unpadded signature', `${body}\n\u2014 ${NAME} ${sigB64.replace(/=+$/, '')}\n`, 'CHECKPOINT_MALFORMED'],
    ['signature of 4 bytes (key ID only)', `${body}\n\u2014 ${NAME} ${toBase64(raw.slice(0, 4))}\n`, 'CHECKPOINT_MALFORMED'],
    ['signature one byte short', `${body}\n\u2014 ${NAME} ${toBase64(raw.slice(0, -1))}\n`, 'CHECKPOINT_BAD_SIGNATURE'],
    ['signature one byte long', `${body}\n\u2014 ${NAME} ${toBase64(new Uint8Array([...raw, 0]))}\n`, 'CHECKPOINT_BAD_SIGNATURE'],
    ['carriage return line ends', NOTE.replace(/\n/g, '\r\n'), 'CHECKPOINT_MALFORMED'],
    ['tab in the text', NOTE.replace('\n', '\t\n'), 'CHECKPOINT_MALFORMED'],
    ['NUL in the text', '\u0000' + NOTE, 'CHECKPOINT_MALFORMED'],
    ['lone surrogate', NOTE.replace('\n', '\ud800\n'), 'CHECKPOINT_MALFORMED'],
    ['101 signatures', body + '\n' + sigLine.repeat(101), 'CHECKPOINT_MALFORMED'],
    ['over 1 MiB', 'x'.repeat(1 << 20) + NOTE, 'CHECKPOINT_MALFORMED'],
  ];
  for (const [what, note, code] of cases) {
    it(what, () => {
      expect(codeOf(() => openCheckpoint(note, VKEY))).toBe(code);
    });
  }

  it('100 signatures are still accepted', () => {
    expect(openCheckpoint(body + '\n' + sigLine.repeat(100), VKEY)).toEqual(cp);
  });

  it('not a string', () => {
    for (const v of [undefined, null, 42, {}, new Uint8Array(3)]) {
      expect(codeOf(() => parseNote(v as unknown as string))).toBe('CHECKPOINT_MALFORMED');
      expect(codeOf(() => openCheckpoint(v as unknown as string, VKEY))).toBe('CHECKPOINT_MALFORMED');
      expect(codeOf(() => parseCheckpointBody(v as unknown as string))).toBe('CHECKPOINT_MALFORMED');
      expect(codeOf(() => parseVerifierKey(v as unknown as string))).toBe('VKEY_MALFORMED');
    }
  });
});

describe('malformed checkpoint bodies, one by one', () => {
  const r = toBase64(cp.root);
  const bodies: [string, string][] = [
    ['empty', ''],
    ['no final newline', `o\n1\n${r}`],
    ['two lines', `o\n1\n`],
    ['empty origin', `\n1\n${r}\n`],
    ['empty extension line', `o\n1\n${r}\n\next\n`],
    ['trailing blank line', `o\n1\n${r}\n\n`],
    ['leading zero', `o\n01\n${r}\n`],
    ['plus sign', `o\n+1\n${r}\n`],
    ['minus sign', `o\n-1\n${r}\n`],
    ['space in size', `o\n 1\n${r}\n`],
    ['hex size', `o\n0x10\n${r}\n`],
    ['exponent size', `o\n1e3\n${r}\n`],
    ['fraction size', `o\n1.0\n${r}\n`],
    ['size past 2^53', `o\n9007199254740993\n${r}\n`],
    ['size of 2^64', `o\n18446744073709551616\n${r}\n`],
    ['root too short', `o\n1\n${toBase64(cp.root.slice(1))}\n`],
    ['root too long', `o\n1\n${toBase64(new Uint8Array(33))}\n`],
    ['root unpadded', `o\n1\n${r.replace(/=$/, '')}\n`],
    ['root base64url', `o\n1\n${toBase64(new Uint8Array(32).fill(0xfb))}\n`.replace(/\+/g, '-').replace(/\//g, '_')],
    ['root with a space', `o\n1\n ${r}\n`],
    ['control character', `o\u0007\n1\n${r}\n`],
  ];
  for (const [what, body] of bodies) {
    it(what, () => {
      expect(codeOf(() => parseCheckpointBody(body))).toBe('CHECKPOINT_MALFORMED');
    });
  }

  it('the largest exact size parses', () => {
    expect(parseCheckpointBody(`o\n9007199254740991\n${r}\n`).size).toBe(2 ** 53 - 1);
  });

  it('checkpointBody refuses what it could not write back', () => {
    const bad: Partial<Checkpoint>[] = [
      { origin: '' },
      { origin: 'a\nb' },
      { size: -1 },
      { size: 1.5 },
      { size: 2 ** 53 },
      { root: new Uint8Array(31) },
      { extensions: [''] },
      { extensions: ['a\nb'] },
      { origin: 'tab\there' },
    ];
    for (const b of bad) expect(codeOf(() => checkpointBody({ ...cp, ...b }))).toBe('CHECKPOINT_MALFORMED');
  });
});

describe('verifier keys and names', () => {
  const pk = publicKeyFromSeed(seed);
  it('refuses malformed verifier keys', () => {
    const good = VKEY;
    const [name, hex, key] = [good.split('+')[0]!, good.split('+')[1]!, good.slice(good.indexOf('+', good.indexOf('+') + 1) + 1)];
    const bad = [
      '',
      name,
      `${name}+${hex}`,
      `${name}+${hex}+`,
      `+${hex}+${key}`,
      `${name}+${hex.slice(1)}+${key}`,
      `${name}+0${hex}+${key}`,
      `${name}+${hex.replace(/./, (c) => (c === '0' ? '1' : '0'))}+${key}`,
      `${name}+${hex}+${toBase64(new Uint8Array([2, ...pk]))}`,
      `${name}+${hex}+${toBase64(new Uint8Array([1, ...pk, 0]))}`,
      `${name}+${hex}+${key}=`,
      `${name}+${hex}+${key.slice(0, -1)}`,
      `other+${hex}+${key}`,
      `my name+${hex}+${key}`,
      `${name}+${hex}+${key} `,
    ];
    for (const v of bad) expect([v, codeOf(() => parseVerifierKey(v))]).toEqual([v, 'VKEY_MALFORMED']);
    // Go's ParseUint accepts upper-case hex; so does this.
    expect(parseVerifierKey(`${name}+${hex.toUpperCase()}+${key}`).name).toBe(name);
  });

  it('refuses invalid key names when signing or deriving a key ID', () => {
    for (const n of ['', 'a b', 'a+b', 'a\u2003b', 'a\u0085b', 'a\nb']) {
      expect(codeOf(() => keyHash(n, pk))).toBe('VKEY_MALFORMED');
      expect(codeOf(() => signNote('x\n', n, seed))).toBe('VKEY_MALFORMED');
    }
    expect(codeOf(() => keyHash('ok', pk.slice(1)))).toBe('KEY_BAD_LENGTH');
    expect(codeOf(() => signNote('no newline', NAME, seed))).toBe('CHECKPOINT_MALFORMED');
    expect(codeOf(() => signNote('bell\u0007\n', NAME, seed))).toBe('CHECKPOINT_MALFORMED');
  });
});

describe('random input never throws anything but MedtrailError', () => {
  const onlyCoded = (run: () => unknown) => {
    try {
      run();
    } catch (e) {
      expect(e).toBeInstanceOf(MedtrailError);
    }
  };
  // Strings made of the pieces that matter to the parsers, plus arbitrary Unicode.
  const piece = fc.oneof(
    fc.constantFrom('\n', '\n\n', '\u2014 ', '\u2014', ' ', '+', '=', '/', NAME, 'sum.golang.org', '0', '1', '\r', '\u0000', '\ud800'),
    fc.string({ unit: 'grapheme', maxLength: 8 }),
    fc.string({ unit: 'binary', maxLength: 8 }),
    fc.uint8Array({ minLength: 0, maxLength: 72 }).map(toBase64),
  );
  const text = fc.array(piece, { maxLength: 30 }).map((a) => a.join(''));

  it('parseNote, openCheckpoint, parseCheckpointBody, parseVerifierKey', () => {
    fc.assert(
      fc.property(text, (s) => {
        onlyCoded(() => parseNote(s));
        onlyCoded(() => openCheckpoint(s, VKEY));
        onlyCoded(() => parseCheckpointBody(s));
        onlyCoded(() => parseVerifierKey(s));
        onlyCoded(() => openCheckpoint(NOTE, s));
      }),
      { numRuns: 3000 },
    );
  });

  it('mutations of a valid note: one character changed, dropped or inserted', () => {
    fc.assert(
      fc.property(fc.nat(), fc.constantFrom('replace', 'drop', 'insert'), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }), (pos, op, ch) => {
        const i = pos % NOTE.length;
        const mutated =
          op === 'replace' ? NOTE.slice(0, i) + ch + NOTE.slice(i + 1) : op === 'drop' ? NOTE.slice(0, i) + NOTE.slice(i + 1) : NOTE.slice(0, i) + ch + NOTE.slice(i);
        if (mutated === NOTE) return;
        const code = codeOf(() => openCheckpoint(mutated, VKEY));
        expect(code).not.toBe('none');
      }),
      { numRuns: 2000 },
    );
  });
});
