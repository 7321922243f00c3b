// Kept pack proofs (core/map/pack-proof.ts, c2sp.org/tlog-proof@v1): `medtrail verify --save-proof FILE` writes
// what a verify answer proves about a pack; `medtrail check-proof FILE` checks such a file later, offline, with
// nothing but a witness policy or the log's verifier key: no server is asked.
import type { Command } from 'commander';
import { readFileSync, writeFileSync } from 'node:fs';
import type { VerifyAnswer } from '../../core/api/answers.js';
import { MedtrailError } from '../../core/errors.js';
import { parseScannedCode } from '../../core/gs1/scanned-code.js';
import { DEFAULT_WITNESS_MAX_AGE_S, parsePolicy, type TlogPolicy } from '../../core/log/policy.js';
import { checkPackProof, formatPackProof, type ProofTrust } from '../../core/map/pack-proof.js';
import { action, emit } from '../io.js';

export function readPolicy(path: string): TlogPolicy {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new MedtrailError('CLI_IO', `cannot read the policy ${path}`, { cause: e });
  }
  return parsePolicy(text);
}

/** Writes the pack proof of a verify answer to `path` (PROOF_NOTHING_TO_KEEP when the answer proves no pack). */
export function saveProof(path: string, a: VerifyAnswer): void {
  if (a.pack === null || a.proof === null || a.map === undefined) {
    throw new MedtrailError('PROOF_NOTHING_TO_KEEP', `nothing to keep: the answer (${a.verdict}) proves no pack the ledger holds`);
  }
  const text = formatPackProof({ gtin: a.pack.gtin, serial: a.pack.serial, map: a.map, proof: a.proof });
  try {
    writeFileSync(path, text);
  } catch (e) {
    throw new MedtrailError('CLI_IO', `cannot write the proof to ${path}`, { cause: e });
  }
}

interface CheckOptions {
  policy?: string;
  logKey?: string;
  code?: string;
  maxAge?: string;
  json?: boolean;
}

export function registerProof(program: Command): void {
  program
    .command('check-proof')
    .description('check a kept pack proof (a .tlog-proof file from verify --save-proof or the patient page), offline: what the ledger had signed about the pack')
    .argument('<file>', 'the proof file (c2sp.org/tlog-proof@v1)')
    .option('--policy <file>', 'a witness policy (c2sp.org/tlog-policy): the checkpoint must carry its quorum')
    .option('--log-key <vkey>', "or the log's verifier key alone (GET /api/v1/log/key): no witnesses asked for")
    .option('--code <code>', 'the pack the proof must be of: its Digital Link URI or GS1 element string')
    .option('--max-age <seconds>', 'with --policy: the oldest witness cosignature accepted (leave out for a proof kept long ago)')
    .option('--json', 'print JSON')
    .action(
      action((file: string, o: CheckOptions) => {
        if ((o.policy === undefined) === (o.logKey === undefined)) throw new MedtrailError('CLI_USAGE', 'give one of --policy <file> or --log-key <vkey>: what the proof is checked against');
        let trust: ProofTrust;
        if (o.policy !== undefined) {
          const maxAge = o.maxAge === undefined ? undefined : Number(o.maxAge);
          if (maxAge !== undefined && (!Number.isSafeInteger(maxAge) || maxAge < 1)) throw new MedtrailError('CLI_USAGE', `--max-age must be a whole number of seconds from 1, got ${o.maxAge}`);
          trust = { policy: readPolicy(o.policy), ...(maxAge !== undefined ? { opts: { notBefore: Math.floor(Date.now() / 1000) - maxAge } } : {}) };
        } else {
          if (o.maxAge !== undefined) throw new MedtrailError('CLI_USAGE', `--max-age goes with --policy (witness cosignatures carry the times; the log's signature does not; default ${DEFAULT_WITNESS_MAX_AGE_S} s for verify)`);
          trust = { vkey: o.logKey! };
        }
        let text: string;
        try {
          text = readFileSync(file, 'utf8');
        } catch (e) {
          throw new MedtrailError('CLI_IO', `cannot read the proof ${file}`, { cause: e });
        }
        const expect = o.code === undefined ? undefined : parseScannedCode(o.code);
        const r = checkPackProof(text, trust, expect === undefined ? undefined : { gtin: expect.gtin, serial: expect.serial });
        const p = r.proven;
        const lines = [
          `PROVEN: pack ${r.gtin} / ${r.serial}: ${p.state}${p.recalled ? ', lot recalled' : ''} (lot ${p.lot}, expiry ${p.expiry}, maker ${p.maker})`,
          `  as the ledger signed it at tree size ${p.checkpoint.size} (${p.checkpoint.origin}); its newest entry is leaf ${r.index}`,
          ...(r.quorum !== undefined ? [`  witnessed: ${r.quorum.explanation}`] : ['  trusted: the log key alone (no witness policy)']),
        ];
        emit(
          o,
          { gtin: r.gtin, serial: r.serial, state: p.state, recalled: p.recalled, lot: p.lot, expiry: p.expiry, maker: p.maker, lastEntry: p.lastEntry, index: r.index, size: p.checkpoint.size, origin: p.checkpoint.origin, ...(r.quorum !== undefined ? { witnessed: r.quorum.witnessed } : {}) },
          lines.join('\n'),
        );
      }),
    );
}
