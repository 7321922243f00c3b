// Fallback without NFC: a USB 2D scanner acting as a keyboard types each code as one line on stdin. Each line
// is repaired where scanners are known to break codes (core/gs1/scanner-repair.ts) and handed on with what was
// repaired; a line that cannot be read becomes an error line, never a crash. Lines are handled one at a time,
// in order, so a fast scanner cannot interleave two verdicts.
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { isMedtrailError } from '../core/errors.js';
import { repairScan } from '../core/gs1/scanner-repair.js';
import type { ErrorLine } from './output.js';
import type { ScanInput } from './verifier.js';

/** Reads lines from `input` until it ends; resolves then. */
export async function readScannerLines(input: Readable, onScan: (s: ScanInput) => Promise<unknown>, onError: (e: ErrorLine) => void): Promise<void> {
  const rl = createInterface({ input, crlfDelay: Infinity, terminal: false });
  for await (const line of rl) {
    const t0 = performance.now();
    if (line.trim() === '') continue;
    try {
      const r = repairScan(line);
      await onScan({ code: r.text, source: 'scanner', t0, repairs: r.repairs, alternatives: r.alternatives });
    } catch (e) {
      onError({ error: isMedtrailError(e) ? { code: e.code, message: e.message } : { code: 'INTERNAL', message: String(e) }, source: 'scanner', input: line.slice(0, 200) });
    }
  }
}
