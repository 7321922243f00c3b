// The custody module as `medtrail serve` mounts it (server/modules.ts): the entries API and the reads the
// console and CLI use. Other modules (verify) reach the same KeyBook and state through custodyServices().
import type { ServiceModule } from '../server.js';
import { custodyRoutes } from './routes.js';
import { custodyServices } from './services.js';

export { custodyServices } from './services.js';

export function custodyModule(): ServiceModule {
  let services: ReturnType<typeof custodyServices> | undefined;
  return {
    api: (ledger) => {
      services = custodyServices(ledger);
      return [custodyRoutes(services, ledger.log)];
    },
    // A clean stop keeps the replay set for the next start (server/http/auth.ts), and stops the entry-check worker.
    close: () => {
      services?.auth.persist();
      services?.close();
    },
  };
}
