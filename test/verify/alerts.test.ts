// The alert feed's rules (server/verify/alerts.ts): patients' scans in two places close in time, or a pack
// scanned far more often than one pack is; participants' signed scans are not alerts (they speak in verdicts).
import { describe, expect, it } from 'vitest';
import { alertScope, alertsFrom, REPEAT_THRESHOLD } from '../../server/verify/alerts.js';
import type { Scan } from '../../server/verify/scans.js';

const G = '04012345000016';
const scan = (serial: string, min: number, location: string | null, scanner: string | null = null): Scan => ({ gtin: G, serial, at: min * 60_000, scanner, location, verdict: 'GENUINE' });
const all = (): boolean => true;

describe('alertsFrom', () => {
  it('SEEN_APART only for different places within the window; the same place (any spelling) is one place', () => {
    const a = alertsFrom([scan('S1', 0, 'Berlin'), scan('S1', 10, ' berlin  '), scan('S2', 0, 'Berlin'), scan('S2', 5, 'Paris'), scan('S3', 0, 'Berlin'), scan('S3', 90, 'Paris')], 30 * 60_000, all);
    expect(a.map((x) => [x.serial, x.signals, x.places])).toEqual([['S2', ['SEEN_APART'], 2]]);
  });

  it('REPEATED past the threshold, with no location at all', () => {
    const many = Array.from({ length: REPEAT_THRESHOLD + 1 }, (_, i) => scan('R1', i, null));
    expect(alertsFrom(many, 60_000, all)).toMatchObject([{ serial: 'R1', signals: ['REPEATED'], scans: REPEAT_THRESHOLD + 1, places: 0 }]);
    expect(alertsFrom(many.slice(1), 60_000, all)).toEqual([]);
  });

  it('ignores signed scans, and what the reader may not see', () => {
    expect(alertsFrom([scan('S1', 0, 'Berlin', '4000000000017'), scan('S1', 1, 'Paris', '4000000000024')], 30 * 60_000, all)).toEqual([]);
    const s = [scan('S2', 0, 'Berlin'), scan('S2', 5, 'Paris')];
    expect(alertsFrom(s, 30 * 60_000, alertScope({ role: 'manufacturer', prefixes: ['4012345'] }))).toHaveLength(1);
    expect(alertsFrom(s, 30 * 60_000, alertScope({ role: 'manufacturer', prefixes: ['4000002'] }))).toEqual([]);
    expect(alertsFrom(s, 30 * 60_000, alertScope({ role: 'regulator', prefixes: [] }))).toHaveLength(1);
  });
});
