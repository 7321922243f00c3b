// Child process for the witness process tests: a witness (server/witness) on a loopback port, as
// `medtrail witness` would run it, printing {"url","vkey"} once it listens, until killed. Run from dist/
// (compiled by `npm run build`).   node dist/test/support/witness-worker.js DB KEY_FILE PORT LOG_VKEY...
import { startWitness } from '../../server/witness/server.js';

const [db, keyFile, port, ...vkeys] = process.argv.slice(2);
if (db === undefined || keyFile === undefined || port === undefined || vkeys.length === 0) {
  throw new Error('usage: witness-worker DB KEY_FILE PORT LOG_VKEY...');
}
const w = await startWitness({ db, keyFile, port: Number(port), host: '127.0.0.1', logs: vkeys.map((vkey) => ({ vkey })) });
process.stdout.write(`${JSON.stringify({ url: w.url, vkey: w.vkey })}\n`);
process.once('SIGTERM', () => void w.close().then(() => process.exit(0)));
