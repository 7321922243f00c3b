// A real ledger in a temporary folder (init as the CLI does it), and signed entries to fill it with.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { installNodeCrypto } from '../../core/crypto/ed25519-node.js';
import { newNonce, signEntry, type Entry, type EntryKind } from '../../core/entry/entry.js';
import { checkDigit } from '../../core/gs1/identifiers.js';
import { generateKeyFile, keyFileSeed, parseKeyFile, type KeyFile } from '../../core/crypto/keys.js';
import { initLedger, type InitResult } from '../../cli/operator/init.js';
import { tempDir } from './tmp.js';

export interface TestLedger {
  dir: string;
  db: string;
  init: InitResult;
  authority: KeyFile;
  cleanup: () => void;
}

/** The origin of every test ledger (makeLedger, and CLI-made ones in tests pass --origin with it). */
export const TEST_ORIGIN = 'test.medtrail.local/log';

export function makeLedger(origin = TEST_ORIGIN): TestLedger {
  installNodeCrypto();
  const t = tempDir();
  const db = join(t.dir, 'medtrail.db');
  const init = initLedger({ db, origin, authorityGln: gln(1), authorityName: 'test authority' });
  const authority = parseKeyFile(JSON.parse(readFileSync(init.authorityKey, 'utf8')));
  return { dir: t.dir, db, init, authority, cleanup: t.cleanup };
}

/** The n-th test GLN (valid check digit), company prefix 4000001. */
export function gln(n: number): string {
  const body = `40000${String(n).padStart(7, '0')}`;
  return body + String(checkDigit(body));
}

export function entry<B extends Record<string, unknown>>(kind: EntryKind, signer: KeyFile & { gln: string }, body: B, prev: string[] = [], log = TEST_ORIGIN): Entry<B> {
  return signEntry({ v: 1, kind, signer: signer.gln, at: new Date().toISOString(), nonce: newNonce(), prev, body }, keyFileSeed(signer), log);
}

/** A participant admission signed by the authority (valid for the KeyBook and for audit). */
export function admit(authority: KeyFile, who: KeyFile & { gln: string }, role = 'distributor'): Entry {
  return entry('participant', authority as KeyFile & { gln: string }, {
    action: 'admit',
    gln: who.gln,
    name: who.name,
    role,
    publicKey: who.publicKey,
    prefixes: [],
  });
}

export function participantKey(n: number): KeyFile & { gln: string } {
  const k = generateKeyFile(`participant ${n}`, gln(n));
  return k as KeyFile & { gln: string };
}
