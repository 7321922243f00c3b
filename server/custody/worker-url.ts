// Where a worker thread's built script is: beside the module that starts it (dist/server/custody when the server
// runs built), or, when running from the TypeScript sources as the tests do, in dist (built by `npm run build`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The built `name` (e.g. 'writer-thread.js') of server/custody. */
export function custodyWorkerUrl(name: string): URL {
  const here = new URL(`./${name}`, import.meta.url);
  if (existsSync(fileURLToPath(here))) return here;
  return new URL(`../../dist/server/custody/${name}`, import.meta.url);
}
