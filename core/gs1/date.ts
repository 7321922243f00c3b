// GS1 dates in YYMMDD form (AI 17 expiry and friends).
//
// Century (GS1 General Specifications 7.12, "Determination of century in dates"): with CY the last two
// digits of the current year, a YY with YY - CY in 51..99 is in the previous century, in -99..-50 in the next
// century, otherwise in the current one. The window slides with the current year, so the reference year is
// a parameter: tests pass it explicitly, callers that mean "now" may leave it out.
//
// DD = 00 means "no day given" and stands for the last day of the month (General Specifications 3.4, AI 17).
import { fieldError } from '../field-error.js';

export interface Gs1Date {
  year: number;
  month: number;
  day: number;
}

function daysInMonth(year: number, month: number): number {
  // Day 0 of the next month is the last day of this one; UTC avoids any time-zone shift.
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

function fullYear(yy: number, referenceYear: number): number {
  const century = Math.floor(referenceYear / 100) * 100;
  const diff = yy - (referenceYear % 100);
  if (diff >= 51) return century - 100 + yy;
  if (diff <= -50) return century + 100 + yy;
  return century + yy;
}

/** Parses YYMMDD; GS1_BAD_DATE (naming `path`) unless it is a real calendar date (DD 00 allowed). */
export function parseGs1Date(yymmdd: unknown, referenceYear?: number, path = 'expiry'): Gs1Date {
  if (typeof yymmdd !== 'string' || !/^[0-9]{6}$/.test(yymmdd)) fieldError('GS1_BAD_DATE', path, 'date must be 6 digits YYMMDD');
  const ref = referenceYear ?? new Date().getUTCFullYear();
  if (!Number.isSafeInteger(ref) || ref < 1000 || ref > 9999) fieldError('GS1_BAD_DATE', path, 'reference year out of range');
  const yy = Number(yymmdd.slice(0, 2));
  const month = Number(yymmdd.slice(2, 4));
  const dd = Number(yymmdd.slice(4, 6));
  if (month < 1 || month > 12) fieldError('GS1_BAD_DATE', path, `month ${month} does not exist`);
  const year = fullYear(yy, ref);
  const last = daysInMonth(year, month);
  if (dd > last) fieldError('GS1_BAD_DATE', path, `day ${dd} does not exist in ${year}-${month}`);
  return { year, month, day: dd === 0 ? last : dd };
}

export function isValidGs1Date(yymmdd: unknown): yymmdd is string {
  try {
    parseGs1Date(yymmdd, 2000);
    return true;
  } catch {
    return false;
  }
}

const pad = (n: number, w: number): string => String(n).padStart(w, '0');

/** YYMMDD → YYYY-MM-DD (DD 00 resolved to the month's last day). */
export function gs1DateToIso(yymmdd: string, referenceYear?: number, path = 'expiry'): string {
  const d = parseGs1Date(yymmdd, referenceYear, path);
  return `${pad(d.year, 4)}-${pad(d.month, 2)}-${pad(d.day, 2)}`;
}

/**
 * A pack is expired once its expiry day is over in UTC: it is still good on the expiry day itself, and
 * expired from 00:00 UTC of the next day. The century is decided relative to `now`'s year.
 */
export function isExpired(yymmdd: string, now: Date, path = 'expiry'): boolean {
  const t = now instanceof Date ? now.getTime() : NaN;
  if (Number.isNaN(t)) fieldError('BAD_INPUT', 'now', 'not a valid Date');
  const d = parseGs1Date(yymmdd, now.getUTCFullYear(), path);
  return t >= Date.UTC(d.year, d.month - 1, d.day + 1);
}
