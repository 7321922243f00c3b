// `medtrail product`: a manufacturer registers a product (GTIN master data) under one of its company prefixes.
import type { Command } from 'commander';
import type { ProductBody } from '../../core/entry/bodies.js';
import { MedtrailError } from '../../core/errors.js';
import { normalizeGtin } from '../../core/gs1/identifiers.js';
import { ApiClient, clientOptions, loadKey, makeEntry, type Appended, type SignerKey } from '../api-client.js';
import { action, emit } from '../io.js';

export async function registerProductEntry(c: ApiClient, key: SignerKey, body: ProductBody): Promise<Appended> {
  return c.submit(await makeEntry(c, 'product', key, { ...body, gtin: normalizeGtin(body.gtin) }));
}

interface ProductOptions {
  server: string;
  key?: string;
  gtin: string;
  name: string;
  form: string;
  strength: string;
  packSize: string;
  substance?: string;
  atc?: string;
  json?: boolean;
}

export function registerProduct(program: Command): void {
  clientOptions(
    program
      .command('product')
      .description('as a manufacturer, register a product (GTIN, name, form, strength, pack size)')
      .requiredOption('--gtin <gtin>', 'GTIN (8, 12, 13 or 14 digits; stored as GTIN-14)')
      .requiredOption('--name <name>', 'product name')
      .requiredOption('--form <form>', 'dosage form, e.g. "film-coated tablet"')
      .requiredOption('--strength <strength>', 'e.g. "500 mg"')
      .requiredOption('--pack-size <n>', 'units per pack')
      .option('--substance <INN>', 'the active substance (prescriptions by substance match it)')
      .option('--atc <code>', 'its ATC code (the substance of the prescription reports)'),
  ).action(
    action(async (o: ProductOptions) => {
      const key = loadKey(o.key);
      const packSize = Number(o.packSize);
      if (!/^[1-9][0-9]{0,6}$/.test(o.packSize)) throw new MedtrailError('CLI_USAGE', `--pack-size must be a positive integer, got ${o.packSize}`);
      const body: ProductBody = { gtin: normalizeGtin(o.gtin), name: o.name, form: o.form, strength: o.strength, packSize, ...(o.substance !== undefined ? { substance: o.substance } : {}), ...(o.atc !== undefined ? { atc: o.atc } : {}) };
      const r = await registerProductEntry(new ApiClient(o.server, key), key, body);
      emit(o, { ...r, gtin: body.gtin }, `product ${body.gtin} registered: entry ${r.index} ${r.leafHash}`);
    }),
  );
}
