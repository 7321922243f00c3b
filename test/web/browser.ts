// What the web tests share: the web build and the screenshots folder, Debian's Chromium (chromium.ts) and the
// patient-page chain (patient-chain.ts), re-exported here so that the tests import one module.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { buildWeb } from '../../web/build.mjs';
import { REPO_ROOT } from '../support/tmp.js';

export { launch } from './chromium.js';
export { patientChain, tagUri, type PackId, type PatientChain } from './patient-chain.js';

export const SCREENSHOTS = join(REPO_ROOT, 'artifacts/screenshots');

export async function buildAssets(): Promise<void> {
  await buildWeb();
  mkdirSync(SCREENSHOTS, { recursive: true });
}
