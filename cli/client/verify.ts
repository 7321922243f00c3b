// `medtrail verify`: what a pharmacist's scanner or a patient's phone asks: the verdict on a pack, from its
// Digital Link URI or GS1 element string. With --key the request is signed, as a participant's scan.
import type { Command } from 'commander';
import type { VerifyAnswer } from '../../core/api/answers.js';
import { exitCodeOf } from '../../core/verdict.js';
import type { VerifyRequest } from '../../client/ledger-client.js';
import { ApiClient, DEFAULT_SERVER, loadKey } from '../api-client.js';
import { Failover } from '../../client/failover.js';
import { action, emit } from '../io.js';
import { exitCodeHelp } from '../../core/verdict.js';
import { isMedtrailError, MedtrailError } from '../../core/errors.js';
import { parseScannedCode } from '../../core/gs1/scanned-code.js';
import { DEFAULT_WITNESS_MAX_AGE_S, type TlogPolicy } from '../../core/log/policy.js';
import type { ProvenVerdict } from '../../core/map/proven-verdict.js';
import { holdToPolicy } from '../../client/proven.js';
import { readPolicy, saveProof } from './proof.js';

export type { VerifyAnswer, VerifyRequest };

export function verifyCode(c: ApiClient, req: VerifyRequest): Promise<VerifyAnswer> {
  return c.verify(req);
}

export function humanVerdict(a: VerifyAnswer): string {
  const lines = [`${a.verdict}: ${a.message}`];
  if (a.product) lines.push(`  ${a.product.name}, ${a.product.strength}, ${a.product.form} (GTIN ${a.product.gtin})`);
  if (a.pack) lines.push(`  serial ${a.pack.serial}, lot ${a.pack.lot}, expiry ${a.pack.expiry}, state ${a.pack.state}`);
  for (const r of a.reasons) lines.push(`  - ${r.code}${r.emvs ? ` [EU ${r.emvs}]` : ''}${r.lmv ? ` [GS1 ${r.lmv}]` : ''}: ${r.message}`);
  if (a.journey.length > 0) lines.push(`  journey: ${a.journey.map((j) => `${j.step} ${j.at.slice(0, 10)}`).join(' -> ')}`);
  return lines.join('\n');
}

interface VerifyOptions {
  server: string[];
  key?: string;
  location?: string;
  policy?: string;
  maxAge?: string;
  saveProof?: string;
  json?: boolean;
}

/**
 * The answer held to a witness policy (client/proven.ts: the state proven, and the tag checked against the maker's
 * proven key). A checkpoint signed a moment ago may not be cosigned yet: asked once more after a second before
 * CHECKPOINT_QUORUM is final.
 */
async function witnessed(c: ApiClient, ask: () => Promise<VerifyAnswer>, first: VerifyAnswer, policy: TlogPolicy, code: string, maxAgeS: number, signedRequest: boolean): Promise<{ answer: VerifyAnswer; proven: ProvenVerdict }> {
  const scanned = parseScannedCode(code);
  const opts = (): { notBefore: number } => ({ notBefore: Math.floor(Date.now() / 1000) - maxAgeS });
  try {
    return { answer: first, proven: await holdToPolicy(c, policy, first, scanned, signedRequest, opts()) };
  } catch (e) {
    if (!isMedtrailError(e, 'CHECKPOINT_QUORUM') && !isMedtrailError(e, 'CHECKPOINT_STALE')) throw e;
  }
  await new Promise((r) => setTimeout(r, 1000));
  const again = await ask();
  return { answer: again, proven: await holdToPolicy(c, policy, again, scanned, signedRequest, opts()) };
}

/** Failover (issue 14): a server that cannot be reached, or a mirror still catching up, hands on to the next. */
const HAND_ON = new Set(['SERVER_UNREACHABLE', 'MIRROR_BEHIND', 'OVERLOADED']);

/** A server silent this long is given up (only with several servers; the next one was asked long before). */
const FAILOVER_TIMEOUT_MS = 5000;

/**
 * Asks the servers (the operator first, then mirrors) through client/failover.ts: the next at once when one is
 * refused, after its head start when one is silent; returns the first answer with the client that gave it. A
 * server that answers with a refusal ends the search, since a mirror would answer the same.
 */
async function firstAnswer(clients: readonly ApiClient[], ask: (c: ApiClient) => Promise<VerifyAnswer>, say: (line: string) => void): Promise<{ answer: VerifyAnswer; client: ApiClient }> {
  if (clients.length === 0) throw new MedtrailError('CLI_USAGE', 'no server to ask');
  const r = await new Failover(clients).first(ask, {
    handOn: (e) => isMedtrailError(e) && HAND_ON.has(e.code),
    unreachable: (e) => isMedtrailError(e, 'SERVER_UNREACHABLE'),
    say: (from, e, to) => say(`medtrail verify: ${from.base}: ${isMedtrailError(e) ? `${e.code}: ${e.message}` : String(e)}; asking ${to.base}`),
  });
  return { answer: r.value, client: r.client };
}

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description('ask the verdict on a pack: its Digital Link URI, or a GS1 element string from a scanner')
    .argument('<code>', 'Digital Link URI or GS1 element string ((01)..(21).. or raw with GS separators)')
    .option(
      '--server <url>',
      `ledger server (default ${DEFAULT_SERVER}); repeat or comma-separate for failover: asked in order, the next when one cannot be reached (a mirror when the operator is down)`,
      (v: string, acc: string[]) => [...acc, ...v.split(',').map((s) => s.trim()).filter((s) => s !== '')],
      [] as string[],
    )
    .option('--key <path>', 'your key file: sign the request as a participant (optional)')
    .option('--json', 'print JSON')
    .option('--location <text>', 'where the scan happens (kept with the scan, not in the log)')
    .option('--policy <file>', 'a witness policy (c2sp.org/tlog-policy): trust no server; the verdict follows the pack state proven under a checkpoint its witnesses cosigned')
    .option('--max-age <seconds>', 'with --policy: the oldest witness cosignature accepted (an old answer replayed)', String(DEFAULT_WITNESS_MAX_AGE_S))
    .option('--save-proof <file>', 'keep what the answer proves about the pack in a file (c2sp.org/tlog-proof@v1), to check later offline with check-proof')
    .addHelpText('after', `\n${exitCodeHelp()}`)
    .action(
    action(async (code: string, o: VerifyOptions) => {
      const key = o.key !== undefined ? loadKey(o.key) : undefined;
      const urls = o.server.length > 0 ? o.server : [DEFAULT_SERVER];
      // Once answered, the requests still out (a hung operator raced by a mirror) are dropped: the CLI exits.
      const losers = new AbortController();
      const clients = urls.map((u) => new ApiClient(u, key, urls.length > 1 ? FAILOVER_TIMEOUT_MS : undefined, urls.length > 1 ? losers.signal : undefined));
      const scanner = key !== undefined || o.location !== undefined ? { ...(key ? { gln: key.gln } : {}), ...(o.location !== undefined ? { location: o.location } : {}) } : undefined;
      const policy = o.policy !== undefined ? readPolicy(o.policy) : undefined;
      // Answered or refused, the requests still out elsewhere are dropped (a hung server would hold the exit for its
      // timeout); the client that answered is asked again without the signal.
      const first = await firstAnswer(clients, (c) => verifyCode(c, { code, ...(scanner ? { scanner } : {}) }), (line) => void process.stderr.write(`${line}\n`)).finally(() => {
        for (const c of clients) c.options.signal = undefined;
        losers.abort();
      });
      const c = first.client;
      const a = first.answer;
      const ask = (): Promise<VerifyAnswer> => verifyCode(c, { code, ...(scanner ? { scanner } : {}) });
      // Which server answered, when several were given (a mirror answering for an operator that is down).
      const via = urls.length > 1 ? { server: c.base } : {};
      if (policy === undefined) {
        if (o.saveProof !== undefined) saveProof(o.saveProof, a);
        emit(o, { ...a, ...via }, humanVerdict(a) + (urls.length > 1 ? `\n  answered by ${c.base}` : ''));
        // One rule with medtrail-reader --once (core/verdict.ts exitCodeOf; README, Exit codes).
        process.exitCode = exitCodeOf(a.verdict);
        return;
      }
      const maxAge = Number(o.maxAge ?? DEFAULT_WITNESS_MAX_AGE_S);
      if (!Number.isSafeInteger(maxAge) || maxAge < 1) throw new MedtrailError('CLI_USAGE', `--max-age must be a whole number of seconds from 1, got ${o.maxAge}`);
      const { answer, proven } = await witnessed(c, ask, a, policy, code, maxAge, key !== undefined);
      if (o.saveProof !== undefined) saveProof(o.saveProof, answer);
      const p = proven.proven;
      const state = p.present ? `${p.state}${p.recalled ? ', lot recalled' : ''} (lot ${p.lot}, expiry ${p.expiry}, maker ${p.maker})` : 'no such pack in the ledger';
      const lines = [
        humanVerdict({ ...answer, verdict: proven.verdict }),
        `  witnessed: ${proven.quorum.explanation}`,
        `  state proven at tree size ${p.checkpoint.size}: ${state}`,
        ...(proven.overridden !== undefined ? [`  NOTE: ${proven.overridden}`] : []),
      ];
      emit(o, { ...answer, ...via, verdict: proven.verdict, serverVerdict: proven.server, witnessed: proven.quorum.witnessed, proven: { size: p.checkpoint.size, ...(p.present ? { state: p.state, lot: p.lot, expiry: p.expiry, maker: p.maker, recalled: p.recalled } : { state: null }) }, ...(proven.overridden !== undefined ? { overridden: proven.overridden } : {}) }, lines.join('\n'));
      process.exitCode = exitCodeOf(proven.verdict);
    }),
  );
}
