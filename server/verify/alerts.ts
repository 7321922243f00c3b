// The alert feed: what patient pages and apps saw, for the maker of the product and the regulators to look at.
//
// Anonymous scans are forgeable (anyone can send any location), so they never change the verdict anyone else is
// told (server/verify/engine.ts, SECURITY.md). But a real clone shows up there first: the same pack scanned by
// patients in several places, or far more often than one pack is. Those signals are collected here and answered
// only to a signed request of the product's manufacturer (its own GTINs, by company prefix) or a regulator:
//
//   GET /api/v1/alerts[?since=<RFC 3339>][&limit=<n>]
//   {"alerts":[{"gtin","serial","signals":["SEEN_APART"|"REPEATED"],"scans","places","firstAt","lastAt"}],
//    "since","forgeable":true}
//
// Computed on request from the scans table (bounded: at most MAX_SCANS scans read, MAX_ALERTS answered).
import { gtinHasCompanyPrefix } from '../../core/gs1/identifiers.js';
import type { Scan } from './scans.js';

export type AlertSignal = 'SEEN_APART' | 'REPEATED';

export interface Alert {
  gtin: string;
  serial: string;
  signals: AlertSignal[];
  /** Anonymous scans of this pack in the period. */
  scans: number;
  /** Distinct places (given locations, compared case- and space-insensitively). */
  places: number;
  firstAt: string;
  lastAt: string;
}

export const MAX_SCANS = 200_000;
export const MAX_ALERTS = 1_000;
/** More anonymous scans of one pack than this in the period is REPEATED (one patient checks a pack a few times). */
export const REPEAT_THRESHOLD = 10;

function norm(s: string): string {
  return s.trim().replace(/\s+/g, ' ').toLowerCase();
}

/**
 * Alerts from anonymous scans (oldest first): SEEN_APART when two scans of one pack within `windowMs` of each
 * other name different places; REPEATED when a pack was scanned more than REPEAT_THRESHOLD times. `mine` says
 * which GTINs the reader may see.
 */
export function alertsFrom(scans: readonly Scan[], windowMs: number, mine: (gtin: string) => boolean): Alert[] {
  const byPack = new Map<string, Scan[]>();
  for (const s of scans) {
    if (s.scanner !== null || !mine(s.gtin)) continue;
    const k = `${s.gtin}\u0000${s.serial}`;
    const list = byPack.get(k);
    if (list === undefined) byPack.set(k, [s]);
    else list.push(s);
  }
  const out: Alert[] = [];
  for (const list of byPack.values()) {
    const places = new Set<string>();
    let apart = false;
    let last: { at: number; place: string } | undefined;
    for (const s of list) {
      if (s.location === null) continue;
      const place = norm(s.location);
      places.add(place);
      if (last !== undefined && last.place !== place && s.at - last.at <= windowMs) apart = true;
      last = { at: s.at, place };
    }
    const signals: AlertSignal[] = [];
    if (apart) signals.push('SEEN_APART');
    if (list.length > REPEAT_THRESHOLD) signals.push('REPEATED');
    if (signals.length === 0) continue;
    const first = list[0]!;
    out.push({
      gtin: first.gtin,
      serial: first.serial,
      signals,
      scans: list.length,
      places: places.size,
      firstAt: new Date(first.at).toISOString(),
      lastAt: new Date(list[list.length - 1]!.at).toISOString(),
    });
  }
  // Most alarming first: both signals, then more places, then more scans.
  out.sort((a, b) => b.signals.length - a.signals.length || b.places - a.places || b.scans - a.scans);
  return out.slice(0, MAX_ALERTS);
}

/** Which GTINs a reader may see: a regulator all, a manufacturer those under its company prefixes. */
export function alertScope(who: { role: string; prefixes: readonly string[] }): (gtin: string) => boolean {
  if (who.role === 'regulator') return () => true;
  return (gtin) => who.prefixes.some((p) => gtinHasCompanyPrefix(gtin, p));
}
