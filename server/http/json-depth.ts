// Refuses JSON nested deeper than any medtrail body needs, before it is parsed. JSON.parse itself copes with
// very deep input, but what comes after (canonical JSON, JSON.stringify, validators) recurses and would throw
// a RangeError from the stack: a 200 KB body of brackets must be a coded 400, not an internal error.
import { MedtrailError } from '../../core/errors.js';

/** The deepest nesting accepted: an entry is envelope > body > items > case > packs > pack (6). */
export const MAX_JSON_DEPTH = 32;

/** Throws BAD_JSON when arrays/objects in `buf` (JSON text) nest deeper than `max`. One pass, no allocation. */
export function assertJsonDepth(buf: Uint8Array, max = MAX_JSON_DEPTH): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i]!;
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) throw new MedtrailError('BAD_JSON', `request body nests deeper than ${max} levels`);
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
}
