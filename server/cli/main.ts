// The `medtrail` command line. Each command lives in its own file under commands/ and registers itself here.
import { Command } from 'commander';
import { registerAudit } from './commands/audit.js';
import { registerInit } from './commands/init.js';
import { registerKeygen } from './commands/keygen.js';
import { registerServe } from './commands/serve.js';
import { registerStart } from './commands/start.js';
import { registerBatch } from './commands/batch.js';
import { registerDispense } from './commands/dispense.js';
import { registerEnroll } from './commands/enroll.js';
import { registerLabels } from './commands/labels.js';
import { registerProduct } from './commands/product.js';
import { registerRecall } from './commands/recall.js';
import { registerReceive } from './commands/receive.js';
import { registerShip } from './commands/ship.js';
import { registerUndo } from './commands/undo.js';
import { registerVerify } from './commands/verify.js';
import { registerDemo } from './commands/demo.js';
import { registerTag } from './commands/tag.js';
import { serviceModules } from '../modules.js';

const program = new Command();
program
  .name('medtrail')
  .description('medtrail: a verifiable custody ledger for medicine packs')
  .showHelpAfterError()
  .exitOverride((err) => {
    // commander's own usage errors: exit 2, as every usage error here does; --help and --version exit 0.
    process.exit(err.exitCode === 0 ? 0 : 2);
  });

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
registerDemo(program);
registerTag(program);

await program.parseAsync(process.argv);
