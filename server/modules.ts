// The service modules mounted by `medtrail serve` beyond the log itself (custody, verification, pages).
import { custodyModule } from './custody/module.js';
import { rxModule } from './rx/module.js';
import type { ServiceModule } from './server.js';
import { verifyModule } from './verify/module.js';
import { webModule } from './web/module.js';

export function serviceModules(): ServiceModule[] {
  return [custodyModule(), verifyModule(), rxModule(), webModule()];
}
