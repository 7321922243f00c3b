// The console's key: held in this page's memory, or kept in localStorage sealed with a passphrase
// (PBKDF2-SHA-256, 600,000 iterations as OWASP advises for it, then AES-256-GCM; WebCrypto, so the key never
// leaves the browser and the passphrase is never stored). The sealed record says what it is and nothing more.
import { fromBase64, toBase64, utf8, fromUtf8 } from '../../core/bytes.js';

export const STORAGE_KEY = 'medtrail.sealedKey';
const ITERATIONS = 600_000;

export interface SealedKey {
  v: 1;
  kdf: 'PBKDF2-SHA-256';
  iterations: number;
  salt: string;
  iv: string;
  /** AES-GCM ciphertext of the key file's JSON text. */
  ct: string;
  /** Shown before unlocking, so the person knows which key this is. */
  name: string;
  gln: string;
}

async function aesKey(passphrase: string, salt: Uint8Array, iterations: number): Promise<CryptoKey> {
  const base = await crypto.subtle.importKey('raw', utf8(passphrase) as BufferSource, 'PBKDF2', false, ['deriveKey']);
  return crypto.subtle.deriveKey({ name: 'PBKDF2', hash: 'SHA-256', salt: salt as BufferSource, iterations }, base, { name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
}

export async function sealKey(keyFileText: string, passphrase: string, label: { name: string; gln: string }): Promise<SealedKey> {
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const key = await aesKey(passphrase, salt, ITERATIONS);
  const ct = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, key, utf8(keyFileText) as BufferSource));
  return { v: 1, kdf: 'PBKDF2-SHA-256', iterations: ITERATIONS, salt: toBase64(salt), iv: toBase64(iv), ct: toBase64(ct), ...label };
}

/** The key file's text; throws when the passphrase is wrong (AES-GCM authentication fails). */
export async function openSealedKey(s: SealedKey, passphrase: string): Promise<string> {
  const key = await aesKey(passphrase, fromBase64(s.salt), s.iterations);
  const pt = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: fromBase64(s.iv) as BufferSource }, key, fromBase64(s.ct) as BufferSource);
  return fromUtf8(new Uint8Array(pt));
}

export function loadSealed(): SealedKey | null {
  try {
    const raw = localStorage.getItem(STORAGE_KEY);
    if (raw === null) return null;
    const s = JSON.parse(raw) as SealedKey;
    return s.v === 1 && typeof s.ct === 'string' ? s : null;
  } catch {
    return null;
  }
}

export function storeSealed(s: SealedKey): void {
  localStorage.setItem(STORAGE_KEY, JSON.stringify(s));
}

export function forgetSealed(): void {
  localStorage.removeItem(STORAGE_KEY);
}
