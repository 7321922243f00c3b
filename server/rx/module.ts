// Prescriptions as a ServiceModule (issue 16; docs/architecture.md, Prescriptions): the routes under /api/v1, and
// the retention rule: the off-ledger details of a prescription whose validity ended more than `retentionDays`
// ago are erased at start and every hour (MEDTRAIL_RX_RETENTION_DAYS, default 3650: ten years).
import { MedtrailError } from '../../core/errors.js';
import { dayOf } from '../../core/rx/rx.js';
import type { ServiceModule } from '../server.js';
import { rxRoutes } from './routes.js';
import { rxServices, type RxServices } from './services.js';

export const DEFAULT_RETENTION_DAYS = 3650;

export function retentionFromEnv(v: string | undefined): number {
  if (v === undefined || v.trim() === '') return DEFAULT_RETENTION_DAYS;
  if (!/^[0-9]{1,6}$/.test(v.trim())) throw new MedtrailError('CLI_USAGE', `MEDTRAIL_RX_RETENTION_DAYS must be a whole number of days, got ${v}`);
  return Number(v);
}

/** The day before which a prescription's validity must have ended for its details to be erased. */
export function retentionCutoff(now: number, days: number): string {
  return dayOf(now - days * 24 * 60 * 60 * 1000);
}

export function rxModule(o: { retentionDays?: number } = {}): ServiceModule {
  let services: RxServices | undefined;
  let timer: NodeJS.Timeout | undefined;
  return {
    api: (ledger) => {
      const s = rxServices(ledger);
      services = s;
      const days = o.retentionDays ?? retentionFromEnv(process.env['MEDTRAIL_RX_RETENTION_DAYS']);
      const sweep = (): void => void s.priv.eraseDue(retentionCutoff(Date.now(), days)).catch((e: unknown) => process.stderr.write(`medtrail: the prescription details sweep failed: ${String(e)}\n`));
      sweep();
      timer = setInterval(sweep, 60 * 60 * 1000);
      timer.unref();
      return [rxRoutes(s, ledger.store.getMeta('origin') ?? '')];
    },
    close: () => {
      if (timer !== undefined) clearInterval(timer);
      services?.close();
    },
  };
}
