// The prescription reports (issue 16; docs/architecture.md, Prescriptions): the aggregate cells the ledger keeps
// (month, region, substance, prescriber type -> prescriptions, packs prescribed, packs dispensed) summed over the
// dimensions asked for, every count under the threshold suppressed (null), and no totals row (a total beside a
// suppressed cell would give it away). Also CSV (RFC 4180) and a bar chart for a terminal. Pure.
import { RX_REPORT_DIMENSIONS, type RxReportAnswer, type RxReportDimension, type RxReportRow } from '../api/rx.js';

/** Counts below this are suppressed: a cell of 1 or 2 prescriptions could single out a patient. */
export const DEFAULT_SUPPRESS_BELOW = 5;

export interface RxCellCounts {
  month: string;
  region: string;
  substance: string;
  ptype: string;
  prescriptions: number;
  packsPrescribed: number;
  packsDispensed: number;
}

function valueOf(c: RxCellCounts, d: RxReportDimension): string {
  return d === 'prescriberType' ? c.ptype : c[d];
}

/** Sums the cells by `by`; each count under `threshold` becomes null. Rows sorted by their dimension values. */
export function buildReport(cells: Iterable<RxCellCounts>, by: readonly RxReportDimension[], threshold = DEFAULT_SUPPRESS_BELOW, filter: Partial<Record<RxReportDimension, string>> = {}): RxReportAnswer {
  const sums = new Map<string, { key: string[]; p: number; pp: number; pd: number }>();
  for (const c of cells) {
    if (RX_REPORT_DIMENSIONS.some((d) => filter[d] !== undefined && valueOf(c, d) !== filter[d])) continue;
    const key = by.map((d) => valueOf(c, d));
    const k = key.join('\u0000');
    let s = sums.get(k);
    if (s === undefined) sums.set(k, (s = { key, p: 0, pp: 0, pd: 0 }));
    s.p += c.prescriptions;
    s.pp += c.packsPrescribed;
    s.pd += c.packsDispensed;
  }
  const keep = (n: number): number | null => (n < threshold ? null : n);
  const rows = [...sums.values()]
    .sort((a, b) => (a.key.join('\u0000') < b.key.join('\u0000') ? -1 : 1))
    .map((s) => {
      const row: RxReportRow = { prescriptions: keep(s.p), packsPrescribed: keep(s.pp), packsDispensed: keep(s.pd) };
      by.forEach((d, i) => (row[d] = s.key[i]!));
      return row;
    })
    // A row whose every count is suppressed says only that something small exists there: left out.
    .filter((r) => r.prescriptions !== null || r.packsPrescribed !== null || r.packsDispensed !== null);
  return { by: [...by], threshold, rows };
}

function csvField(v: string): string {
  // A cell starting with = + - @ would be a formula in a spreadsheet (CSV injection): quoted with a leading '.
  const safe = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v;
  return /[",\r\n]/.test(safe) || safe !== v ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function reportCsv(r: RxReportAnswer): string {
  const head = [...r.by, 'prescriptions', 'packsPrescribed', 'packsDispensed'];
  const lines = r.rows.map((row) => [...r.by.map((d) => row[d] ?? ''), ...[row.prescriptions, row.packsPrescribed, row.packsDispensed].map((n) => (n === null ? 'suppressed' : String(n)))].map(csvField).join(','));
  return `${[head.join(','), ...lines].join('\r\n')}\r\n`;
}

/** A horizontal bar chart of packs dispensed (and prescribed) per row, for a terminal. */
export function reportChart(r: RxReportAnswer, width = 40): string {
  const label = (row: RxReportRow): string => r.by.map((d) => row[d] ?? '').join(' / ') || 'all';
  const labels = r.rows.map(label);
  const pad = Math.max(5, ...labels.map((l) => l.length));
  const max = Math.max(1, ...r.rows.map((x) => Math.max(x.packsPrescribed ?? 0, x.packsDispensed ?? 0)));
  const bar = (n: number | null, ch: string): string => (n === null ? '(suppressed)' : `${ch.repeat(Math.max(n > 0 ? 1 : 0, Math.round((n / max) * width)))} ${n}`);
  const out = [`packs prescribed (░) and dispensed (█) by ${r.by.join(', ') || 'total'}; counts under ${r.threshold} suppressed`];
  r.rows.forEach((row, i) => {
    out.push(`${labels[i]!.padEnd(pad)} │${bar(row.packsPrescribed, '░')}`);
    out.push(`${''.padEnd(pad)} │${bar(row.packsDispensed, '█')}`);
  });
  return out.join('\n');
}
