import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decide, decommissionedReason, isReasonCode, reason, REASONS, sortReasons, VERDICT_MESSAGES, VERDICTS, type ReasonCode } from '../../core/verdict.js';
import { expectCode } from '../support/expect-code.js';

const ALL = Object.keys(REASONS) as ReasonCode[];

describe('core/verdict', () => {
  it('precedence: COUNTERFEIT > UNKNOWN > RECALLED > DISPENSED > EXPIRED > IN_TRANSIT > SUSPICIOUS > GENUINE', () => {
    expect(VERDICTS).toEqual(['COUNTERFEIT', 'UNKNOWN', 'RECALLED', 'DISPENSED', 'EXPIRED', 'IN_TRANSIT', 'SUSPICIOUS', 'GENUINE']);
    expect(decide([])).toBe('GENUINE');
    expect(decide(['TAG_SIGNATURE_ABSENT', 'SCANNER_REPAIRED'])).toBe('GENUINE');
    expect(decide(['SEEN_FAR_APART', 'IN_TRANSIT_NOT_RECEIVED'])).toBe('IN_TRANSIT');
    expect(decide(['PACK_EXPIRED', 'IN_TRANSIT_NOT_RECEIVED'])).toBe('EXPIRED');
    expect(decide(['PACK_EXPIRED', 'ALREADY_DISPENSED'])).toBe('DISPENSED');
    expect(decide(['ALREADY_DISPENSED', 'LOT_RECALLED'])).toBe('RECALLED');
    expect(decide(['LOT_RECALLED', 'PACK_UNKNOWN'])).toBe('UNKNOWN');
    expect(decide(['PACK_UNKNOWN', 'TAG_SIGNATURE_INVALID'])).toBe('COUNTERFEIT');
  });

  it('the verdict is the most severe one any reason implies, whatever the order', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...ALL), { maxLength: 8 }), (codes) => {
        const v = decide(codes);
        const ranks = codes.map((c) => VERDICTS.indexOf(REASONS[c].verdict));
        expect(VERDICTS.indexOf(v)).toBe(ranks.length === 0 ? VERDICTS.length - 1 : Math.min(...ranks));
        expect(decide([...codes].reverse())).toBe(v);
        const sorted = sortReasons(codes);
        if (sorted.length > 0) expect(REASONS[sorted[0]!].verdict).toBe(v);
        expect(new Set(sorted).size).toBe(sorted.length);
      }),
    );
  });

  it('every reason has a sentence, a verdict, and well-formed equivalents', () => {
    for (const code of ALL) {
      const r = reason(code);
      expect(r.code).toBe(code);
      expect(r.message).toMatch(/^[A-Z].*[.!]$/);
      expect(VERDICTS).toContain(REASONS[code].verdict);
      if (r.emvs !== undefined) expect(r.emvs).toMatch(/^A[0-9]{1,2}$/);
      if (r.lmv !== undefined) expect(r.lmv).toMatch(/^(No_match_GTIN_Serial(_Lot)?(_Expiry)?|Not_for_re-distribution|Expired|Recalled|Suspect|Illegitimate)$/);
    }
    for (const v of VERDICTS) expect(VERDICT_MESSAGES[v].length).toBeGreaterThan(10);
  });

  it('the EU hub and GS1 equivalents named in the sources', () => {
    expect(reason('BATCH_UNKNOWN').emvs).toBe('A2');
    expect(reason('PACK_UNKNOWN').emvs).toBe('A3');
    expect(reason('ALREADY_DISPENSED').emvs).toBe('A7');
    expect(reason('DECOMMISSIONED_STOLEN').emvs).toBe('A24');
    expect(reason('DATA_MISMATCH_EXPIRY')).toMatchObject({ emvs: 'A52', lmv: 'No_match_GTIN_Serial_Expiry' });
    expect(reason('DATA_MISMATCH_LOT')).toMatchObject({ emvs: 'A68', lmv: 'No_match_GTIN_Serial_Lot' });
    expect(reason('PRODUCT_UNKNOWN').emvs).toBeUndefined();
    expect(reason('LOT_RECALLED').lmv).toBe('Recalled');
    expect(reason('PACK_EXPIRED').lmv).toBe('Expired');
  });

  it('decommission states map to their codes; unknown codes are refused with a code', () => {
    for (const s of ['destroyed', 'stolen', 'sample', 'free_sample', 'exported', 'locked'] as const) {
      expect(isReasonCode(decommissionedReason(s))).toBe(true);
      expect(decide([decommissionedReason(s)])).toBe('DISPENSED');
    }
    expect(isReasonCode('NOPE')).toBe(false);
    expect(isReasonCode('toString')).toBe(false);
    expectCode(() => decide(['NOPE' as ReasonCode]), 'BAD_INPUT');
    expectCode(() => reason('__proto__' as ReasonCode), 'BAD_INPUT');
  });
});
