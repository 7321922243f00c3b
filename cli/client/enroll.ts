// `medtrail enroll`: the authority admits a participant (or rotates or revokes its key). Signed with the
// authority's key file here; the participant's own seed is never needed, only its public key.
import { isJsonObject } from '../../core/api/wire.js';
import type { Command } from 'commander';
import { authorityKeyPath, DEFAULT_DB } from '../../server/context.js';
import { readFileSync } from 'node:fs';
import { PRESCRIBER_TYPES, ROLES, type ParticipantBody } from '../../core/entry/bodies.js';
import { MedtrailError } from '../../core/errors.js';
import { isValidGln } from '../../core/gs1/identifiers.js';
import { parsePublicKeyFile } from '../../core/crypto/keys.js';
import { ApiClient, clientOptions, loadKey, makeEntry, type Appended, type SignerKey } from '../api-client.js';
import { action, emit } from '../io.js';
import { collect } from '../pack-refs.js';

/** Signs and posts a participant entry as the authority. */
export async function enroll(c: ApiClient, authority: SignerKey, body: ParticipantBody): Promise<Appended> {
  return c.submit(await makeEntry(c, 'participant', authority, body));
}

interface EnrollOptions {
  server: string;
  key?: string;
  authorityKey?: string;
  gln?: string;
  name?: string;
  role?: string;
  publicKey?: string;
  participantKey?: string;
  prefix?: string[];
  revoke?: boolean;
  rotate?: boolean;
  region?: string;
  prescriberType?: string;
  json?: boolean;
}

function readPublicKey(path: string): { publicKey: string; gln?: string; name: string } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new MedtrailError('CLI_IO', `cannot read ${path}`, { cause: e });
  }
  // A full key file is fine too: only its public part is read.
  const j: unknown = JSON.parse(text);
  if (isJsonObject(j)) delete j['seed'];
  return parsePublicKeyFile(j);
}

export function buildParticipantBody(o: EnrollOptions): ParticipantBody {
  if (o.revoke && o.rotate) throw new MedtrailError('CLI_USAGE', '--revoke and --rotate exclude each other');
  const fromFile = o.participantKey !== undefined ? readPublicKey(o.participantKey) : undefined;
  const gln = o.gln ?? fromFile?.gln;
  if (gln === undefined || !isValidGln(gln)) throw new MedtrailError('GS1_BAD_GLN', `--gln must be a GLN (13 digits with check digit), got ${gln ?? 'nothing'}`);
  if (o.revoke) return { action: 'revoke', gln };
  const publicKey = o.publicKey ?? fromFile?.publicKey;
  if (publicKey === undefined) throw new MedtrailError('CLI_USAGE', 'give --public-key or --participant-key');
  if (o.rotate) return { action: 'rotate', gln, publicKey };
  const name = o.name ?? fromFile?.name;
  if (name === undefined) throw new MedtrailError('CLI_USAGE', '--name is required to admit a participant');
  const role = ROLES.find((r) => r === o.role);
  if (role === undefined) throw new MedtrailError('CLI_USAGE', `--role must be one of ${ROLES.join(', ')}`);
  // A prescriber's region and type place its prescriptions in the reports (issue 16).
  const ptype = o.prescriberType === undefined ? undefined : PRESCRIBER_TYPES.find((t) => t === o.prescriberType);
  if (o.prescriberType !== undefined && ptype === undefined) throw new MedtrailError('CLI_USAGE', `--prescriber-type must be one of ${PRESCRIBER_TYPES.join(', ')}`);
  return { action: 'admit', gln, name, role, publicKey, prefixes: o.prefix ?? [], ...(o.region !== undefined ? { region: o.region } : {}), ...(ptype !== undefined ? { prescriberType: ptype } : {}) };
}

export function registerEnroll(program: Command): void {
  clientOptions(
    program
      .command('enroll')
      .description('as the authority, admit a participant (or --rotate its key, or --revoke it)')
      .option('--authority-key <path>', `the authority's key file (default: --key, else ${authorityKeyPath(DEFAULT_DB)}, where init put it)`)
      .option('--gln <gln>', "the participant's GLN (default: from --participant-key)")
      .option('--name <name>', "the participant's name")
      .option('--role <role>', ROLES.join(' | '))
      .option('--public-key <base64>', "the participant's Ed25519 public key")
      .option('--participant-key <path>', "the participant's key file (only its public key is read)")
      .option('--prefix <prefix>', 'a GS1 company prefix the participant owns (repeatable)', collect)
      .option('--region <code>', "a prescriber's region for the prescription reports (ISO 3166: DE, DE-BY)")
      .option('--prescriber-type <type>', `a prescriber's type: ${PRESCRIBER_TYPES.join(' | ')}`)
      .option('--rotate', 'replace the key of an enrolled participant with --public-key')
      .option('--revoke', "revoke the participant's key"),
    'the authority key file (same as --authority-key)',
  ).action(
    action(async (o: EnrollOptions) => {
      // The same default as `medtrail demo`: the authority key that `medtrail init` wrote beside the database.
      const authority = loadKey(o.authorityKey ?? o.key ?? authorityKeyPath(DEFAULT_DB), '--authority-key');
      const body = buildParticipantBody(o);
      const r = await enroll(new ApiClient(o.server), authority, body);
      emit(o, { ...r, action: body.action, gln: body.gln }, `${body.action} ${body.gln}: entry ${r.index} ${r.leafHash}`);
    }),
  );
}
