// `medtrail audit`: recomputes the ledger from its leaves (server/log/audit.ts). Exit 0 when intact, 1 with
// the list of findings (each naming the altered leaf or range) when not.
import type { Command } from 'commander';
import { installNodeCrypto } from '../../../core/ed25519-node.js';
import { auditLedger } from '../../log/audit.js';
import { DEFAULT_DB } from '../../context.js';
import { openDatabase, SqliteLedgerStore } from '../../store/ledger-store.js';
import { action, emit } from '../io.js';

export function registerAudit(program: Command): void {
  program
    .command('audit')
    .description('recompute every hash from the leaves, check every signature and checkpoint; say where the ledger was altered')
    .option('--db <path>', 'database file', DEFAULT_DB)
    .option('--max-findings <n>', 'stop listing after this many findings', '100')
    .option('--json', 'print JSON')
    .action(
      action((opts: { db: string; maxFindings: string; json?: boolean }) => {
        installNodeCrypto();
        const store = new SqliteLedgerStore(openDatabase(opts.db, { readonly: true }));
        let report;
        try {
          report = auditLedger(store, { maxFindings: Math.max(1, Number(opts.maxFindings) || 100) });
        } finally {
          store.close();
        }
        const lines = report.ok
          ? [`ledger intact: ${report.leaves} leaves, ${report.signatures} signatures, ${report.nodes} interior nodes, ${report.checkpoints} checkpoints`, `root ${report.root}`]
          : [`LEDGER ALTERED: ${report.findings.length} finding(s)`, ...report.findings.map((f) => `  ${f.code}${f.index !== undefined ? ` at leaf ${f.index}` : ''}: ${f.message}`)];
        emit(opts, report, lines.join('\n'));
        if (!report.ok) process.exitCode = 1;
      }),
    );
}
