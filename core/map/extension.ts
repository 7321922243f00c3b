// The map roots in a checkpoint (docs/architecture.md, Trust without a centre). c2sp.org/tlog-checkpoint lets
// a log add extension lines after the root hash line; medtrail adds one:
//
//   medtrail-map <base64 pack-map root> <base64 lot-map root>
//
// The log's signature covers it, and so does every tlog-cosignature/v1 Ed25519 cosignature (it signs the whole
// note text). Witnesses check consistency of the first three lines only, so a log could sign two checkpoints
// of one size with two map roots; medtrail's own witness refuses that (server/witness: at a size it already
// holds, only the identical text is cosigned), and `medtrail audit` rebuilds both roots from the leaves.
import { fromBase64, toBase64 } from '../bytes.js';
import type { Checkpoint } from '../log/checkpoint.js';
import { MedtrailError } from '../errors.js';

export const MAP_EXTENSION_KEYWORD = 'medtrail-map';

export interface MapRoots {
  /** Root of the pack map (core/map/pack-map.ts). */
  packs: Uint8Array;
  /** Root of the lot map. */
  lots: Uint8Array;
}

function bad(message: string, cause?: unknown): MedtrailError {
  return new MedtrailError('MAP_EXTENSION_MALFORMED', message, cause === undefined ? undefined : { cause });
}

function isMapLine(line: string): boolean {
  return line === MAP_EXTENSION_KEYWORD || line.startsWith(`${MAP_EXTENSION_KEYWORD} `);
}

export function mapExtensionLine(roots: MapRoots): string {
  if (!(roots.packs instanceof Uint8Array) || roots.packs.length !== 32 || !(roots.lots instanceof Uint8Array) || roots.lots.length !== 32) {
    throw bad('map roots must be 32 bytes each');
  }
  return `${MAP_EXTENSION_KEYWORD} ${toBase64(roots.packs)} ${toBase64(roots.lots)}`;
}

/** Strict parse of one `medtrail-map` line: the keyword, one space, two canonical base64 roots. */
export function parseMapExtensionLine(line: string): MapRoots {
  if (typeof line !== 'string') throw bad('extension line must be a string');
  const parts = line.split(' ');
  if (parts.length !== 3 || parts[0] !== MAP_EXTENSION_KEYWORD) throw bad(`expected "${MAP_EXTENSION_KEYWORD} <pack root> <lot root>"`);
  try {
    return { packs: fromBase64(parts[1]!, 32), lots: fromBase64(parts[2]!, 32) };
  } catch (e) {
    throw bad('map roots are not base64 of 32 bytes', e);
  }
}

/** The checkpoint with its `medtrail-map` line set to `roots` (any earlier one replaced, other lines kept). */
export function withMapRoots(cp: Checkpoint, roots: MapRoots): Checkpoint {
  return { ...cp, extensions: [...cp.extensions.filter((l) => !isMapLine(l)), mapExtensionLine(roots)] };
}

/** The map roots a checkpoint carries, or undefined when it has no `medtrail-map` line; two lines or a bad one: MAP_EXTENSION_MALFORMED. */
export function readMapRoots(cp: Checkpoint): MapRoots | undefined {
  const lines = cp.extensions.filter(isMapLine);
  if (lines.length > 1) throw bad('the checkpoint carries more than one medtrail-map line');
  return lines.length === 0 ? undefined : parseMapExtensionLine(lines[0]!);
}

/** The map roots, which a checkpoint of a map-keeping log must carry (MAP_EXTENSION_MALFORMED when it does not). */
export function requireMapRoots(cp: Checkpoint): MapRoots {
  const r = readMapRoots(cp);
  if (r === undefined) throw bad('the checkpoint carries no medtrail-map line');
  return r;
}
