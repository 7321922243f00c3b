// The verification module as the server mounts it: POST /verify, the pack reads and EPCIS under /api/v1.
import type { ServiceModule } from '../server.js';
import { verifyFastRoute, verifyRoutes } from './routes.js';
import { tagKeyRoutes } from './tag-keys.js';
import { verifyServices, type VerifyOptions, type VerifyServices } from './services.js';

export function verifyModule(opts: VerifyOptions = {}): ServiceModule {
  let services: VerifyServices | undefined;
  return {
    api: (ledger) => {
      services = verifyServices(ledger, opts);
      return [verifyRoutes(services), tagKeyRoutes(services)];
    },
    fast: (ledger) => [verifyFastRoute(verifyServices(ledger, opts))],
    close: () => services?.close(),
  };
}
