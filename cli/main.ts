// The `medtrail` command line. Each command lives in its own file under commands/ and registers itself here.
import { Command } from 'commander';
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
import { registerDemo } from './operator/demo.js';
import { registerTag } from './client/tag.js';
import { serviceModules } from '../server/modules.js';

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
