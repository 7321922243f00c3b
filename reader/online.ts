// The online half of a verification (docs/architecture.md, The reader): POST /verify through the one client,
// signed as this pharmacy when it has a key (the ledger then records the scan as this pharmacy's), with the
// other readings of a repaired scanner line tried when the first one is UNKNOWN. The answer is read by
// core/api/answers.ts's parser; a transient failure means "unreachable" (the caller queues).
import type { VerifyAnswer } from '../core/api/answers.js';
import type { ScanRepair } from '../core/gs1/scanner-repair.js';
import { isMedtrailError, messageOf } from '../core/errors.js';
import { isTransient, type LedgerClient } from '../client/ledger-client.js';

export type OnlineResult =
  | { kind: 'answer'; answer: VerifyAnswer; code: string; repair?: ScanRepair; /** The server that answered, when not the first. */ via?: string }
  | { kind: 'unreachable' }
  | { kind: 'refused'; code: string; message: string };

export async function askServer(client: LedgerClient, code: string, alternatives: readonly { text: string; repair: ScanRepair }[] | undefined): Promise<OnlineResult> {
  try {
    const answer = await client.verify({ code });
    if (answer.verdict === 'UNKNOWN' && alternatives?.length) {
      for (const alt of alternatives) {
        const a = await client.verify({ code: alt.text }).catch(() => undefined);
        if (a !== undefined && a.verdict !== 'UNKNOWN') return { kind: 'answer', answer: a, code: alt.text, repair: alt.repair };
      }
    }
    return { kind: 'answer', answer, code };
  } catch (e) {
    if (isTransient(e)) return { kind: 'unreachable' };
    const err = errorOf(e);
    return { kind: 'refused', code: err.code, message: err.message };
  }
}

/**
 * Failover (issue 14): the servers in order (the operator first, then mirrors); the first that is not
 * unreachable answers. A server that answers (even with a refusal) ends the search; an unreachable one
 * (refused, reset, timed out: the client's timeout) passes on to the next.
 */
export async function askServers(clients: readonly LedgerClient[], code: string, alternatives: readonly { text: string; repair: ScanRepair }[] | undefined): Promise<OnlineResult> {
  let last: OnlineResult = { kind: 'unreachable' };
  for (const [i, client] of clients.entries()) {
    last = await askServer(client, code, alternatives);
    if (last.kind !== 'unreachable') return last.kind === 'answer' && i > 0 ? { ...last, via: client.base } : last;
  }
  return last;
}

/** A coded error's code and message; anything else as INTERNAL. */
export function errorOf(e: unknown): { code: string; message: string } {
  return isMedtrailError(e) ? { code: e.code, message: e.message } : { code: 'INTERNAL', message: messageOf(e) };
}
