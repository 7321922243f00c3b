// `medtrail keygen`: a new Ed25519 key file for a participant. The private seed never leaves this file: the
// server only ever sees the public key (in the participant entry) and signatures.
import type { Command } from 'commander';
import { installNodeCrypto } from '../../core/crypto/ed25519-node.js';
import { MedtrailError } from '../../core/errors.js';
import { isValidGln } from '../../core/gs1/identifiers.js';
import { generateKeyFile, keyFilePublic, keyId } from '../../core/crypto/keys.js';
import { action, emit, writeNewFile } from '../io.js';

export function registerKeygen(program: Command): void {
  program
    .command('keygen')
    .description('create an Ed25519 key file for a participant (refuses to overwrite)')
    .requiredOption('--out <path>', 'key file to create')
    .option('--name <name>', 'organisation name', 'unnamed')
    .option('--gln <gln>', "the organisation's GLN")
    .option('--json', 'print JSON')
    .action(
      action((opts: { out: string; name: string; gln?: string; json?: boolean }) => {
        installNodeCrypto();
        if (opts.gln !== undefined && !isValidGln(opts.gln)) throw new MedtrailError('GS1_BAD_GLN', `--gln ${opts.gln} is not a valid GLN`);
        const k = generateKeyFile(opts.name, opts.gln);
        writeNewFile(opts.out, `${JSON.stringify(k, null, 2)}\n`, true);
        const id = keyId(keyFilePublic(k));
        emit(opts, { path: opts.out, publicKey: k.publicKey, keyId: id, gln: k.gln }, `wrote ${opts.out}\npublic key ${k.publicKey}\nkey id ${id}`);
      }),
    );
}
