// `medtrail audit`: recomputes the ledger from its leaves (server/log/audit.ts). Exit 0 when intact, 1 with
// the list of findings (each naming the altered leaf or range) when not.
import type { Command } from 'commander';
import { isMedtrailError, MedtrailError, messageOf } from '../../core/errors.js';
import { openCheckpoint } from '../../core/log/checkpoint.js';
import { installNodeCrypto } from '../../core/crypto/ed25519-node.js';
import { auditLedger } from '../../server/log/audit.js';
import { auditMaps } from '../../server/map/audit-map.js';
import { readWitness, witnessPath } from '../../server/log/integrity.js';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseMirrorEvidence } from '../../core/api/evidence.js';
import { parseJsonText } from '../../core/api/wire.js';
import { confirmEvidence } from '../../server/mirror/audit-evidence.js';
import { LedgerClient } from '../../client/ledger-client.js';
import { DEFAULT_DB } from '../../server/context.js';
import { snapshotToSqlite } from '../../server/pg/snapshot.js';
import { defaultDb, pgTarget } from '../../server/pg/target.js';
import { openDatabase, SqliteLedgerStore } from '../../server/store/ledger-store.js';
import { action, emit } from '../io.js';

/**
 * A checkpoint the user kept, read and checked before the audit: a file that is not a checkpoint signed by this
 * log's key says so (CHECKPOINT_FILE_BAD), rather than reading as "LEDGER ALTERED".
 */
function checkpointFile(path: string, vkey: string | undefined): string {
  let note: string;
  try {
    note = readFileSync(path, 'utf8');
  } catch (e) {
    throw new MedtrailError('CLI_IO', `cannot read the checkpoint file ${path}`, { cause: e });
  }
  if (vkey === undefined) throw new MedtrailError('STORE_CORRUPT', 'the database holds no log key to check a checkpoint against');
  try {
    openCheckpoint(note, vkey);
  } catch (e) {
    throw new MedtrailError('CHECKPOINT_FILE_BAD', `${path} is not a checkpoint signed by this log's key (${isMedtrailError(e) ? `${e.code}: ${e.message}` : messageOf(e)}); the ledger was not judged against it`, { cause: e });
  }
  return note;
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new MedtrailError('CLI_IO', `cannot read ${path}`, { cause: e });
  }
}

export function registerAudit(program: Command): void {
  program
    .command('audit')
    .description('recompute every hash from the leaves, check every signature and checkpoint; say where the ledger was altered')
    .option('--db <path>', 'database: an SQLite file, or postgres://user@host:port/db?schema=name (default: MEDTRAIL_DB, else ./data/medtrail.db)', defaultDb(DEFAULT_DB))
    .option('--max-findings <n>', 'stop listing after this many findings', '100')
    .option('--checkpoint <file>', 'a checkpoint note you kept (repeatable): the ledger must still contain it', (v: string, acc: string[] = []) => [...acc, v])
    .option('--evidence <file>', "a mirror's divergence evidence (<mirror db>.evidence.json): confirm it independently (the notes under the log key; a fork from the two notes, anything else replayed from the mirror's database, --db, default the file's name without .evidence.json)")
    .option('--server <url>', "with --evidence: the operator to ask for a consistency proof when the evidence holds a failing one (default: the operator the evidence names)")
    .option('--json', 'print JSON')
    .action(
      action(async (opts: { db: string; maxFindings: string; checkpoint?: string[]; evidence?: string; server?: string; json?: boolean }, cmd: Command) => {
        installNodeCrypto();
        if (opts.evidence !== undefined) {
          const file = opts.evidence;
          const db = cmd.getOptionValueSource('db') === 'default' ? file.replace(/\.evidence\.json$/, '') : opts.db;
          const ev = parseMirrorEvidence(parseJsonText(readText(file), `the evidence file ${file}`, 'EVIDENCE_BAD'));
          const workDir = mkdtempSync(join(tmpdir(), 'medtrail-evidence-'));
          try {
            // A failing consistency proof is checked with the operator (or --server): asked now, for one that holds.
            const operator = new LedgerClient(opts.server ?? ev.operator, { timeoutMs: 30_000 });
            const v = await confirmEvidence(ev, { ...(db !== file && existsSync(db) ? { db } : {}), workDir, proofFrom: (from, to) => operator.consistency(from, to) });
            emit(opts, v, [`EVIDENCE CONFIRMED: ${v.code} (${v.how === 'fork' ? 'from the two signed checkpoints' : "replayed from the mirror's copy and the evidence"})`, `  ${v.reason}`].join('\n'));
          } finally {
            rmSync(workDir, { recursive: true, force: true });
          }
          return;
        }
        // A ledger in PostgreSQL is copied row for row into a temporary SQLite file and judged like any other.
        const pgAt = pgTarget(opts.db);
        const copyDir = pgAt !== undefined ? mkdtempSync(join(tmpdir(), 'medtrail-audit-')) : undefined;
        const file = copyDir !== undefined && pgAt !== undefined ? join(copyDir, 'ledger.db') : opts.db;
        if (copyDir !== undefined && pgAt !== undefined) await snapshotToSqlite(pgAt, file);
        const db = openDatabase(file, { readonly: true });
        const store = new SqliteLedgerStore(db);
        let report;
        try {
          // The server's witness (the newest checkpoint it verified) is read when present: it shows a rollback.
          const witness = pgAt !== undefined ? undefined : readWitness(witnessPath(opts.db));
          const given = (opts.checkpoint ?? []).map((f) => checkpointFile(f, store.getMeta('log_vkey')));
          const trusted = [...given, ...(witness !== undefined ? [witness] : [])];
          const log = auditLedger(store, { maxFindings: Math.max(1, Number(opts.maxFindings) || 100), trusted });
          // The state maps, rebuilt from the leaves alone (server/map/audit-map.ts).
          const maps = auditMaps(store, db);
          report = { ...log, ok: log.ok && maps.findings.length === 0, findings: [...log.findings, ...maps.findings], maps };
        } finally {
          store.close();
          if (copyDir !== undefined) rmSync(copyDir, { recursive: true, force: true });
        }
        const lines = report.ok
          ? [
              `ledger intact: ${report.leaves} leaves, ${report.signatures} signatures, ${report.nodes} interior nodes, ${report.checkpoints} checkpoints`,
              `root ${report.root}`,
              `state maps rebuilt from the leaves${report.maps.checkpointCompared ? ' match the checkpoint of that size' : ' (no checkpoint of that size to compare with)'}: packs ${report.maps.roots?.packs ?? '-'} lots ${report.maps.roots?.lots ?? '-'}`,
            ]
          : [`LEDGER ALTERED: ${report.findings.length} finding(s)`, ...report.findings.map((f) => `  ${f.code}${f.index !== undefined ? ` at leaf ${f.index}` : ''}: ${f.message}`)];
        emit(opts, report, lines.join('\n'));
        if (!report.ok) process.exitCode = 1;
      }),
    );
}
