// The web as a ServiceModule: the pages and their assets at the root; the maker-key evidence and the patient
// reports under /api/v1.
import type { Ledger } from '../context.js';
import { custodyServices } from '../custody/services.js';
import { judgeWith } from '../verify/flow.js';
import { verifyServices } from '../verify/services.js';
import type { ServiceModule } from '../server.js';
import { Assets, defaultAssetsDir } from './assets.js';
import { makerEvidenceRouter } from './maker-evidence.js';
import { pageRouter } from './pages.js';
import { pgReports, reportsRouter, sqliteReports } from './reports.js';

export interface WebOptions {
  /** Where web/build.mjs wrote the bundles (default dist/web/assets under the repository root). */
  assetsDir?: string;
}

export function webModule(opts: WebOptions = {}): ServiceModule {
  const assets = new Assets(opts.assetsDir ?? defaultAssetsDir());
  return {
    // The ledger's one authenticator: its KeyBook learns every participant entry as it is appended, so a
    // regulator admitted a second ago can read the reports, and a key revoked a second ago cannot.
    api: (ledger: Ledger) => [
      makerEvidenceRouter(ledger),
      reportsRouter(ledger.pg !== undefined ? pgReports(ledger.pg.pg.rows) : sqliteReports(ledger.store.connectionFor('reports')), custodyServices(ledger).auth, judgeWith(verifyServices(ledger))),
    ],
    root: (ledger: Ledger) => [assets.router(), pageRouter(assets, ledger.log.verifierKey, ledger.policy?.text, ledger.policy?.maxAgeS)],
  };
}
