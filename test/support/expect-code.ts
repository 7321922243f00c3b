// Assertions on coded errors (tests assert codes, never messages).
import { expect } from 'vitest';
import { MedtrailError, type ErrorCode } from '../../core/errors.js';

/** Runs `fn`, expects a MedtrailError with `code`, and returns it for further checks (e.g. `fields`). */
export function expectCode(fn: () => unknown, code: ErrorCode): MedtrailError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(MedtrailError);
    expect((e as MedtrailError).code).toBe(code);
    return e as MedtrailError;
  }
  throw new Error(`expected a MedtrailError ${code}, but nothing was thrown`);
}

/** Hostile input may only ever produce a MedtrailError: returns false for anything else thrown. */
export function throwsOnlyCoded(fn: () => unknown): boolean {
  try {
    fn();
    return true;
  } catch (e) {
    return e instanceof MedtrailError;
  }
}
