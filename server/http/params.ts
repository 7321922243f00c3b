// Query-string parsing for the log routes: strict non-negative integers, every bad field reported at once.
import type { Request } from 'express';
import { FieldErrors } from '../../core/errors.js';

export function intParams<K extends string>(req: Request, names: readonly K[]): Record<K, number> {
  const errs = new FieldErrors();
  const out = {} as Record<K, number>;
  for (const name of names) {
    const raw = req.query[name];
    if (typeof raw !== 'string') {
      errs.add(name, 'BAD_INPUT', raw === undefined ? 'required' : 'must be given once');
      continue;
    }
    if (!/^(0|[1-9][0-9]{0,15})$/.test(raw) || !Number.isSafeInteger(Number(raw))) {
      errs.add(name, 'BAD_INPUT', 'must be a non-negative integer');
      continue;
    }
    out[name] = Number(raw);
  }
  errs.throwIfAny('BAD_INPUT', 'bad query parameters');
  return out;
}
