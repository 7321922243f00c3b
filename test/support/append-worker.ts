// Child process for the crash test: appends batches of signed entries to a ledger and prints `acked <size>`
// after each batch commits, until killed. Run from dist/ (compiled by `npm test`'s build step).
import { openLedger } from '../../server/context.js';
import { toAppendInput } from '../../server/log/ingest.js';
import { admit, participantKey } from './ledger.js';
import { parseKeyFile } from '../../core/crypto/keys.js';
import { readFileSync } from 'node:fs';

const [db, authorityPath, batchArg, batchesArg] = process.argv.slice(2);
if (db === undefined || authorityPath === undefined) throw new Error('usage: append-worker DB AUTHORITY_KEY [BATCH] [BATCHES]');
const authority = parseKeyFile(JSON.parse(readFileSync(authorityPath, 'utf8')));
const batch = Number(batchArg ?? 500);
const batches = Number(batchesArg ?? 1e9);
const l = openLedger({ db, checkpointIntervalMs: 0 });
let n = l.store.head().size + 1000;
for (let b = 0; b < batches; b++) {
  const entries = Array.from({ length: batch }, () => admit(authority, participantKey(n++)));
  l.log.append(entries.map(toAppendInput));
  const size = l.store.head().size;
  process.stdout.write(`acked ${size}\n`);
  if (b % 3 === 0) l.log.signNow();
}
l.close();
