// Witness policies in the form of c2sp.org/tlog-policy, and the quorum check a client makes before it trusts a
// checkpoint (docs/architecture.md, Trust without a centre). A policy names the logs, the witnesses and a
// quorum rule over groups of them:
//
//   log <vkey> [<url>]
//   witness <name> <vkey> [<url>]
//   group <name> <k|all|any> <member>...
//   quorum <name>|none
//
// A checkpoint is trusted when a listed log signed it (the log key's name is the checkpoint's origin) and the
// witnesses whose cosignatures verify make up the quorum. A log operator who shows one history to one client
// and another to the next needs a quorum of witnesses to cosign both, which a witness never does
// (server/witness). Pure: the patient page, the reader and the CLI all check policies.
//
// Limits beyond the spec's (it asks for at least 32 logs, witnesses and groups): 64 KiB of text, 256 of each.
import { equalBytes } from '../bytes.js';
import { FieldErrors, MedtrailError, isMedtrailError } from '../errors.js';
import { openCheckpoint, parseVerifierKey, type Checkpoint } from './checkpoint.js';
import { parseCosignerVerifierKey, verifyCosignatures, type CosignerKey } from './cosignature.js';

export const MAX_POLICY_LENGTH = 64 * 1024;
export const MAX_POLICY_ITEMS = 256;

export interface PolicyLog {
  vkey: string;
  /** The key name, which is the log's origin. */
  name: string;
  keyHash: Uint8Array;
  publicKey: Uint8Array;
  url?: string;
}

export interface PolicyWitness {
  name: string;
  vkey: string;
  key: CosignerKey;
  url?: string;
}

export interface PolicyGroup {
  name: string;
  /** How many members must have witnessed: 1 for `any`, all of them for `all`. */
  threshold: number;
  members: string[];
}

export interface TlogPolicy {
  logs: PolicyLog[];
  witnesses: PolicyWitness[];
  groups: PolicyGroup[];
  /** A witness or group name, or `none` (no cosignature needed). */
  quorum: string;
}

export interface QuorumCheck {
  checkpoint: Checkpoint;
  /** Verifier key of the log whose signature verified. */
  log: string;
  /** Policy names of the witnesses whose cosignatures verified, in policy order. */
  witnessed: string[];
  /** Newest cosignature time of each witness that verified (POSIX seconds), by policy name. */
  times: Record<string, number>;
  satisfied: boolean;
  /** The quorum would hold but for cosignatures older than `notBefore`: perhaps an old checkpoint replayed. */
  stale: boolean;
  /** Plain words: what the quorum needs and what the checkpoint has. */
  explanation: string;
}

const NONE = 'none';
// tlog-policy, Character set: tab, newline, 0x20-0x7E and anything past 0x7F.
const FORBIDDEN = /[\u0000-\u0008\u000b-\u001f\u007f]/;

/** Parses a policy; every bad line is listed at once (POLICY_MALFORMED, fields `line <n>`). */
export function parsePolicy(text: string): TlogPolicy {
  if (typeof text !== 'string') throw new MedtrailError('BAD_TYPE', 'policy must be text');
  if (text.length > MAX_POLICY_LENGTH) throw new MedtrailError('POLICY_MALFORMED', `policy is longer than ${MAX_POLICY_LENGTH} characters`);
  const errs = new FieldErrors();
  const logs: PolicyLog[] = [];
  const witnesses: PolicyWitness[] = [];
  const groups: PolicyGroup[] = [];
  const defined = new Set<string>();
  const usedAsMember = new Set<string>();
  let quorum: string | undefined;
  let quorumLines = 0;

  text.split('\n').forEach((raw, i) => {
    const at = `line ${i + 1}`;
    const fail = (message: string): void => errs.add(at, 'POLICY_MALFORMED', message);
    const bad = FORBIDDEN.exec(raw);
    if (bad !== null) return fail(`control character 0x${bad[0].charCodeAt(0).toString(16).padStart(2, '0')} is not allowed`);
    const line = raw.replace(/^[ \t]+|[ \t]+$/g, '');
    if (line === '' || line.startsWith('#')) return;
    const [keyword, ...args] = line.split(/[ \t]+/) as [string, ...string[]];
    const newName = (name: string): boolean => {
      if (name === NONE) {
        fail('the name "none" is reserved');
        return false;
      }
      if (defined.has(name)) {
        fail(`duplicate name ${name}`);
        return false;
      }
      return true;
    };
    switch (keyword) {
      case 'log': {
        if (args.length < 1 || args.length > 2) return fail('a log line is: log <vkey> [<url>]');
        if (logs.length >= MAX_POLICY_ITEMS) return fail(`more than ${MAX_POLICY_ITEMS} logs`);
        let k: ReturnType<typeof parseVerifierKey>;
        try {
          k = parseVerifierKey(args[0]!);
        } catch (e) {
          return fail(`log key: ${isMedtrailError(e) ? e.message : 'malformed'} (logs sign with Ed25519, type 0x01)`);
        }
        if (logs.some((l) => equalBytes(l.publicKey, k.publicKey))) return fail('duplicate log public key');
        logs.push({ vkey: args[0]!, name: k.name, keyHash: k.keyHash, publicKey: k.publicKey, ...(args[1] !== undefined ? { url: args[1] } : {}) });
        return;
      }
      case 'witness': {
        if (args.length < 2 || args.length > 3) return fail('a witness line is: witness <name> <vkey> [<url>]');
        if (witnesses.length >= MAX_POLICY_ITEMS) return fail(`more than ${MAX_POLICY_ITEMS} witnesses`);
        const name = args[0]!;
        let key: CosignerKey;
        try {
          key = parseCosignerVerifierKey(args[1]!);
        } catch (e) {
          return fail(`witness key: ${isMedtrailError(e) ? e.message : 'malformed'}`);
        }
        if (!newName(name)) return;
        if (witnesses.some((w) => equalBytes(w.key.publicKey, key.publicKey))) return fail('duplicate witness public key');
        defined.add(name);
        witnesses.push({ name, vkey: args[1]!, key, ...(args[2] !== undefined ? { url: args[2] } : {}) });
        return;
      }
      case 'group': {
        if (args.length < 3) return fail('a group line is: group <name> <k|all|any> <member>...');
        if (groups.length >= MAX_POLICY_ITEMS) return fail(`more than ${MAX_POLICY_ITEMS} groups`);
        const [name, k, ...members] = args as [string, string, ...string[]];
        if (!newName(name)) return;
        const seen = new Set<string>();
        for (const m of members) {
          if (!defined.has(m)) return fail(`unknown member ${m} (a member must be defined on an earlier line)`);
          if (seen.has(m) || usedAsMember.has(m)) return fail(`${m} is a group member more than once`);
          seen.add(m);
        }
        let threshold: number;
        if (k === 'all') threshold = members.length;
        else if (k === 'any') threshold = 1;
        else if (/^[1-9][0-9]{0,8}$/.test(k)) threshold = Number(k);
        else return fail(`invalid threshold ${k}: a decimal number, "all" or "any"`);
        if (threshold > members.length) return fail(`threshold ${threshold} is outside [1, ${members.length}]`);
        for (const m of members) usedAsMember.add(m);
        defined.add(name);
        groups.push({ name, threshold, members });
        return;
      }
      case 'quorum': {
        quorumLines++;
        if (args.length !== 1) return fail('a quorum line is: quorum <name>');
        if (args[0] !== NONE && !defined.has(args[0]!)) return fail(`quorum ${args[0]} is not defined on an earlier line`);
        quorum = args[0]!;
        return;
      }
      default:
        return fail(`unknown keyword ${keyword}`);
    }
  });
  if (quorumLines !== 1) errs.add('quorum', 'POLICY_MALFORMED', `a policy needs exactly one quorum line, it has ${quorumLines}`);
  errs.throwIfAny('POLICY_MALFORMED', 'bad witness policy');
  return { logs, witnesses, groups, quorum: quorum! };
}

/** The quorum rule in plain words, e.g. "2 of (X1, X2, X3) and 1 of (Y1, Y2)". */
export function describeQuorum(policy: TlogPolicy, name = policy.quorum): string {
  if (name === NONE) return 'no cosignature';
  const g = policy.groups.find((x) => x.name === name);
  if (g === undefined) return name;
  const parts = g.members.map((m) => describeQuorum(policy, m));
  if (g.threshold === g.members.length && g.members.length > 1) return `all of (${parts.join(', ')})`;
  return `${g.threshold} of (${parts.join(', ')})`;
}

function witnessedBy(policy: TlogPolicy, name: string, ok: ReadonlySet<string>): boolean {
  if (name === NONE) return true;
  const g = policy.groups.find((x) => x.name === name);
  if (g === undefined) return ok.has(name);
  let n = 0;
  for (const m of g.members) if (witnessedBy(policy, m, ok)) n++;
  return n >= g.threshold;
}

/**
 * Checks a signed checkpoint against a policy: the log's signature (a listed log whose key name is the
 * origin, or `opts.log` where the policy lists no log), then every listed witness's cosignature. Throws when
 * no trusted log signed it (CHECKPOINT_UNKNOWN_KEY, CHECKPOINT_BAD_SIGNATURE) or a trusted line is bad
 * (COSIGNATURE_*); otherwise says which witnesses verified and whether they make the quorum.
 */
export interface QuorumOptions {
  /** A log verifier key to trust where the policy lists no log of the checkpoint's origin. */
  log?: string;
  /**
   * POSIX seconds: a cosignature older than this does not count (tlog-cosignature timestamps). A server that
   * replays an old answer shows a checkpoint the witnesses cosigned long ago; the log has them cosign its
   * newest checkpoint again every minute (server/log/publisher.ts), so a fresh one is always at hand.
   */
  notBefore?: number;
}

export function checkQuorum(policy: TlogPolicy, note: string, opts: QuorumOptions = {}): QuorumCheck {
  const origin = typeof note === 'string' ? note.slice(0, Math.max(0, note.indexOf('\n'))) : '';
  const candidates = [...policy.logs.map((l) => l.vkey), ...(opts.log !== undefined ? [opts.log] : [])].filter(
    (v) => parseVerifierKey(v).name === origin,
  );
  if (candidates.length === 0) throw new MedtrailError('CHECKPOINT_UNKNOWN_KEY', `the policy trusts no log with origin ${JSON.stringify(origin)}`);
  let checkpoint: Checkpoint | undefined;
  let log = '';
  for (const v of candidates) {
    try {
      checkpoint = openCheckpoint(note, v);
      log = v;
      break;
    } catch (e) {
      // Another listed key of the same origin (a rotation) may have signed it; a bad signature never passes.
      if (!isMedtrailError(e, 'CHECKPOINT_UNKNOWN_KEY')) throw e;
    }
  }
  if (checkpoint === undefined) throw new MedtrailError('CHECKPOINT_UNKNOWN_KEY', `no listed key of the log ${origin} signed the checkpoint`);
  const { cosigned } = verifyCosignatures(note, policy.witnesses.map((w) => w.key));
  const ok = new Set<string>();
  const times: Record<string, number> = {};
  for (const w of policy.witnesses) {
    const c = cosigned.find((x) => x.key === w.key);
    if (c !== undefined) {
      ok.add(w.name);
      times[w.name] = c.timestamp;
    }
  }
  const witnessed = policy.witnesses.filter((w) => ok.has(w.name)).map((w) => w.name);
  const fresh = new Set([...ok].filter((name) => opts.notBefore === undefined || (times[name] ?? 0) >= opts.notBefore!));
  const satisfied = witnessedBy(policy, policy.quorum, fresh);
  const stale = !satisfied && witnessedBy(policy, policy.quorum, ok);
  const has = witnessed.length === 0 ? 'no witness cosignature' : `cosignatures by ${witnessed.join(', ')}`;
  const explanation = satisfied
    ? `the log's signature and ${has} verify; the quorum (${describeQuorum(policy)}) holds`
    : stale
      ? `the checkpoint carries ${has}, but the quorum (${describeQuorum(policy)}) holds only with cosignatures older than allowed: it may be an old checkpoint replayed`
      : `the checkpoint carries ${has}, but the quorum needs ${describeQuorum(policy)}: it may be a view of the log shown to you alone`;
  return { checkpoint, log, witnessed, times, satisfied, stale, explanation };
}

/**
 * checkQuorum, throwing when the witnesses do not make the quorum: CHECKPOINT_STALE when they would but for
 * cosignatures older than `notBefore`, CHECKPOINT_QUORUM otherwise (with the explanation).
 */
export function requireQuorum(policy: TlogPolicy, note: string, opts: QuorumOptions = {}): QuorumCheck {
  const r = checkQuorum(policy, note, opts);
  if (!r.satisfied) throw new MedtrailError(r.stale ? 'CHECKPOINT_STALE' : 'CHECKPOINT_QUORUM', r.explanation);
  return r;
}

/** Default freshness a client asks of witness cosignatures (seconds): the log refreshes them every minute. */
export const DEFAULT_WITNESS_MAX_AGE_S = 600;
