// What waits for a participant and what it holds, and a pack's EPCIS history: `medtrail shipments`,
// `medtrail held`, `medtrail epcis <code>`. Shipments and stock say who supplies whom, so the server answers
// them only to a request signed by that party (or a regulator); the EPCIS document is the full one for a
// party in the pack's chain, the coarse public one otherwise.
import type { Command } from 'commander';
import { parseHeld } from '../../core/api/answers.js';
import { parseJsonText } from '../../core/api/wire.js';
import { parseScannedCode } from '../../core/gs1/scanned-code.js';
import { ApiClient, clientOptions, loadKey } from '../api-client.js';
import { action, emit } from '../io.js';
import { openShipments } from './receive.js';

interface ReadOptions {
  server: string;
  key?: string;
  json?: boolean;
}

export function registerReads(program: Command): void {
  clientOptions(program.command('shipments').description('the shipments waiting for you (not yet received), to pick one for `medtrail receive`')).action(
    action(async (o: ReadOptions) => {
      const key = loadKey(o.key);
      const list = await openShipments(new ApiClient(o.server, key), key.gln);
      const lines = list.length === 0 ? ['no shipment is waiting for you'] : ['index  from           packs  shipped', ...list.map((s) => `${String(s.index).padEnd(6)} ${s.from}  ${String(s.count).padStart(5)}  ${s.at}`), '', 'receive one with: medtrail receive --shipment <index>'];
      emit(o, { shipments: list }, lines.join('\n'));
    }),
  );

  clientOptions(
    program
      .command('held')
      .description('the packs you hold (active, on your shelf)')
      .option('--limit <n>', 'at most this many', '100')
      .option('--offset <n>', 'skip this many', '0'),
  ).action(
    action(async (o: ReadOptions & { limit: string; offset: string }) => {
      const key = loadKey(o.key);
      const r = await new ApiClient(o.server, key).get(`/api/v1/held?gln=${key.gln}&limit=${encodeURIComponent(o.limit)}&offset=${encodeURIComponent(o.offset)}`, parseHeld, true);
      const lines = r.packs.length === 0 ? ['you hold no packs'] : r.packs.map((p) => `${p.gtin}  ${p.serial}  lot ${p.lot}  exp ${p.expiry}`);
      emit(o, r, lines.join('\n'));
    }),
  );

  clientOptions(
    program
      .command('epcis')
      .description("a pack's history as an EPCIS 2.0 document (full for a party in its chain with --key, coarse otherwise)")
      .argument('<code>', 'the pack: Digital Link URI or GS1 element string'),
    'your key file: sign the request as a participant (optional)',
  ).action(
    action(async (code: string, o: ReadOptions) => {
      const p = parseScannedCode(code);
      const key = o.key !== undefined ? loadKey(o.key) : undefined;
      const c = new ApiClient(o.server, key);
      const { text } = await c.text('GET', `/api/v1/epcis/events?gtin=${p.gtin}&serial=${encodeURIComponent(p.serial)}`, undefined, key !== undefined);
      // A JSON-LD document either way: indented for a person, one line with --json.
      const doc = parseJsonText(text, 'the EPCIS document');
      emit(o, doc, JSON.stringify(doc, null, 2));
    }),
  );
}
