// The online half of a verification (docs/architecture.md, The reader): POST /verify through the one client,
// signed as this pharmacy when it has a key (the ledger then records the scan as this pharmacy's), with the
// other readings of a repaired scanner line tried when the first one is UNKNOWN. The answer is read by
// core/api/answers.ts's parser; a transient failure means "unreachable" (the caller queues).
import type { VerifyAnswer } from '../core/api/answers.js';
import type { ScanRepair } from '../core/gs1/scanner-repair.js';
import { isMedtrailError, messageOf } from '../core/errors.js';
import { isTransient, type LedgerClient } from '../client/ledger-client.js';
import type { Failover } from '../client/failover.js';

export type OnlineResult =
  | { kind: 'answer'; answer: VerifyAnswer; code: string; repair?: ScanRepair; /** The server that answered, when not the first. */ via?: string }
  | { kind: 'unreachable' }
  | { kind: 'refused'; code: string; message: string };

/** One server, errors thrown (failover decides on them); the other readings of a repaired line tried after UNKNOWN. */
async function askOne(client: LedgerClient, code: string, alternatives: readonly { text: string; repair: ScanRepair }[] | undefined): Promise<Extract<OnlineResult, { kind: 'answer' }>> {
  const answer = await client.verify({ code });
  if (answer.verdict === 'UNKNOWN' && alternatives?.length) {
    for (const alt of alternatives) {
      const a = await client.verify({ code: alt.text }).catch(() => undefined);
      if (a !== undefined && a.verdict !== 'UNKNOWN') return { kind: 'answer', answer: a, code: alt.text, repair: alt.repair };
    }
  }
  return { kind: 'answer', answer, code };
}

/**
 * Failover (issue 14; client/failover.ts): the servers in order (the operator first, then mirrors). A server
 * that answers (even with a refusal) ends the search; one that is refused passes on to the next at once, one that
 * is silent past the head start has the next asked beside it, and one that failed is asked last for a while.
 */
export async function askServers(servers: Failover<LedgerClient>, code: string, alternatives: readonly { text: string; repair: ScanRepair }[] | undefined): Promise<OnlineResult> {
  try {
    const r = await servers.first((c) => askOne(c, code, alternatives), {
      handOn: isTransient,
      unreachable: (e) => isMedtrailError(e, 'SERVER_UNREACHABLE') || isMedtrailError(e, 'MIRROR_BEHIND'),
    });
    return r.index > 0 ? { ...r.value, via: r.client.base } : r.value;
  } catch (e) {
    if (isTransient(e)) return { kind: 'unreachable' };
    const err = errorOf(e);
    return { kind: 'refused', code: err.code, message: err.message };
  }
}

/** A coded error's code and message; anything else as INTERNAL. */
export function errorOf(e: unknown): { code: string; message: string } {
  return isMedtrailError(e) ? { code: e.code, message: e.message } : { code: 'INTERNAL', message: messageOf(e) };
}
