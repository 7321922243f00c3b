// The `medtrail` command line. Each command lives in its own file under commands/ and registers itself here.
import { Command, Help, type Option } from 'commander';
import { registerAudit } from './operator/audit.js';
import { registerInit } from './operator/init.js';
import { registerKeygen } from './client/keygen.js';
import { registerServe } from './operator/serve.js';
import { registerStart } from './operator/start.js';
import { registerBatch } from './client/batch.js';
import { registerDispense } from './client/dispense.js';
import { registerEnroll } from './client/enroll.js';
import { registerLabels } from './client/labels.js';
import { registerProduct } from './client/product.js';
import { registerRecall } from './client/recall.js';
import { registerReceive } from './client/receive.js';
import { registerShip } from './client/ship.js';
import { registerUndo } from './client/undo.js';
import { registerVerify } from './client/verify.js';
import { registerProof } from './client/proof.js';
import { registerDemo } from './operator/demo.js';
import { registerTag } from './client/tag.js';
import { registerReads } from './client/reads.js';
import { registerWitness } from './operator/witness.js';
import { registerMirror } from './operator/mirror.js';
import { registerRx } from './client/rx.js';
import { serviceModules } from '../server/modules.js';

// Under --json every error is one JSON object on stderr, commander's own usage errors included.
const json = process.argv.includes('--json');

/**
 * Commands that report every missing required option at once (commander stops at the first), and whose help
 * marks required options.
 */
class MedtrailCommand extends Command {
  override createCommand(name?: string): Command {
    return new MedtrailCommand(name);
  }

  // Called by commander for the first missing mandatory option; names all of them in one error.
  missingMandatoryOptionValue(): void {
    const missing = this.options.filter((o) => o.mandatory && this.getOptionValue(o.attributeName()) === undefined).map((o) => o.long ?? o.flags);
    this.error(`error: required option${missing.length > 1 ? 's' : ''} ${missing.join(', ')} not specified`, { code: 'commander.missingMandatoryOptionValue', exitCode: 2 });
  }
}

const baseHelp = new Help();
const program = new MedtrailCommand();
program
  .name('medtrail')
  .description('medtrail: a verifiable custody ledger for medicine packs')
  .configureHelp({ optionDescription: (o: Option) => `${baseHelp.optionDescription(o)}${o.mandatory ? ' (required)' : ''}` })
  .configureOutput({ outputError: (text, write) => (json ? undefined : write(text)) })
  .exitOverride((err) => {
    // commander's own usage errors: exit 2, as every usage error here does; --help and --version exit 0.
    if (err.exitCode !== 0 && json) {
      process.stderr.write(`${JSON.stringify({ error: { code: 'CLI_USAGE', message: err.message.replace(/^error: /, '') } })}\n`);
    }
    process.exit(err.exitCode === 0 ? 0 : 2);
  });
if (!json) program.showHelpAfterError();

registerInit(program);
registerServe(program, serviceModules);
registerKeygen(program);
registerAudit(program);
registerStart(program, serviceModules);
registerEnroll(program);
registerProduct(program);
registerBatch(program);
registerLabels(program);
registerShip(program);
registerReceive(program);
registerDispense(program);
registerUndo(program);
registerRecall(program);
registerVerify(program);
registerProof(program);
registerDemo(program);
registerTag(program);
registerReads(program);
registerWitness(program);
registerMirror(program);
registerRx(program);

await program.parseAsync(process.argv);
