// The service modules mounted by `medtrail serve` beyond the log itself (custody, verification, pages).
import type { ServiceModule } from './server.js';

export function serviceModules(): ServiceModule[] {
  return [];
}
