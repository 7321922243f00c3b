// One helper for the common case of a single bad field: a coded MedtrailError whose `fields` names it, so
// that the HTTP layer can answer a 400 listing the field (every bad field at once).
import { MedtrailError, type ErrorCode } from './errors.js';

export function fieldError(code: ErrorCode, path: string, message: string): never {
  throw new MedtrailError(code, `${path}: ${message}`, { fields: [{ path, code, message }] });
}
