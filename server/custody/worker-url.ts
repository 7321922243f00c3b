// What the server thread's clients of custody's worker threads share (entry-checker.ts, ledger-writer.ts): where a
// thread's built script is, the coded refusal a thread answers, and the watch for a thread that stopped.
//
// A built script sits beside the module that starts it (dist/server/custody when the server runs built), or, when
// running from the TypeScript sources as the tests do, in dist (built by `npm run build`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';
import { isErrorCode, MedtrailError, type FieldError } from '../../core/errors.js';

/** The built `name` (e.g. 'writer-thread.js') of server/custody. */
export function custodyWorkerUrl(name: string): URL {
  const here = new URL(`./${name}`, import.meta.url);
  if (existsSync(fileURLToPath(here))) return here;
  return new URL(`../../dist/server/custody/${name}`, import.meta.url);
}

/** A refusal a thread sent back as code, message and bad fields: the MedtrailError the server thread answers. */
export function refusalOf(m: { code: string; message: string; fields?: FieldError[] }): MedtrailError {
  return new MedtrailError(isErrorCode(m.code) ? m.code : 'INTERNAL', m.message, m.fields !== undefined ? { fields: m.fields } : undefined);
}

/** Calls `lost` with the reason when the thread fails or exits. */
export function whenLost(w: Worker, lost: (why: string) => void): void {
  w.on('error', (e) => lost(e.message));
  w.on('exit', (code) => lost(`exit ${code}`));
}
