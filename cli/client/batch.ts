// `medtrail batch`: a manufacturer commissions a batch of serialised packs. For every pack it signs the tag
// (the Digital Link URI with `s=`, the manufacturer's Ed25519 signature over core/tag/pack.ts packIdentityBytes),
// writes the tags file for the packaging line, then posts the one batch entry listing every serial.
//
// Order of effects: sign every tag, write the tags file (never over an existing one), post the batch. If the
// server refuses the batch, the tags file is removed, so a file of tags always means registered packs.
import type { Command } from 'commander';
import { rmSync } from 'node:fs';
import { toBase64Url } from '../../core/bytes.js';
import { formatDigitalLink } from '../../core/gs1/digital-link.js';
import { sign } from '../../core/crypto/ed25519.js';
import { MAX_BATCH_SERIALS } from '../../core/entry/bodies.js';
import { isMedtrailError, MedtrailError } from '../../core/errors.js';
import { normalizeGtin, validateLot, validateSerial } from '../../core/gs1/identifiers.js';
import { gs1DateToIso, isExpired, parseGs1Date } from '../../core/gs1/date.js';
import { keyFileSeed } from '../../core/crypto/keys.js';
import { packIdentityBytes } from '../../core/tag/pack.js';
import { randomSerial } from '../../core/gs1/serial.js';
import { ApiClient, clientOptions, loadKey, makeEntry, type Appended, type SignerKey } from '../api-client.js';
import { productEntryHash } from '../custody-reads.js';
import { action, emit, writeNewFile } from '../io.js';
import { readNumberedLines } from '../pack-refs.js';
import { progress, type Progress } from '../progress.js';

export interface BatchSpec {
  gtin: string;
  lot: string;
  /** YYMMDD. */
  expiry: string;
  serials: string[];
}

export interface Tag {
  gtin: string;
  lot: string;
  expiry: string;
  serial: string;
  uri: string;
}

/** Checks a batch before anything is signed: GTIN, lot, date, and unique valid serials. */
/**
 * Checks a batch before anything is signed. `where(i)` names where serial i came from (a file's line), so that
 * a bad or repeated serial is reported where the person can fix it.
 */
export function checkBatch(b: BatchSpec, where: (i: number) => string = (i) => `serial ${i + 1}`): BatchSpec {
  const gtin = normalizeGtin(b.gtin);
  const lot = validateLot(b.lot);
  parseGs1Date(b.expiry);
  if (b.serials.length < 1 || b.serials.length > MAX_BATCH_SERIALS) throw new MedtrailError('CLI_USAGE', `a batch holds 1 to ${MAX_BATCH_SERIALS} packs, got ${b.serials.length}`);
  const seen = new Map<string, number>();
  b.serials.forEach((s, i) => {
    try {
      validateSerial(s);
    } catch (e) {
      if (!isMedtrailError(e)) throw e;
      throw new MedtrailError(e.code, `${where(i)}: "${s}" is not a valid serial: at most 20 characters of the GS1 AI 82 set (letters, digits and !"%&'()*+,-./:;<=>?_)`, { cause: e });
    }
    const first = seen.get(s);
    if (first !== undefined) throw new MedtrailError('CLI_USAGE', `${where(i)}: serial ${s} is listed twice (first at ${where(first)})`);
    seen.set(s, i);
  });
  return { gtin, lot, expiry: b.expiry, serials: b.serials };
}

/** `count` distinct random serials (core/gs1/serial.ts: 12 characters, about 56 bits each). */
export function generateSerials(count: number): string[] {
  const out = new Set<string>();
  while (out.size < count) out.add(randomSerial());
  return [...out];
}

/** The signed tag URI of one pack. */
export function signTag(seed: Uint8Array, resolver: string, p: Omit<Tag, 'uri'>): string {
  const sig = toBase64Url(sign(packIdentityBytes(p), seed));
  return formatDigitalLink({ resolver, gtin: p.gtin, lot: p.lot, serial: p.serial, expiry: p.expiry, sig, query: {} });
}

export function signTags(key: SignerKey, resolver: string, b: BatchSpec, bar?: Progress): Tag[] {
  const seed = keyFileSeed(key);
  const tags: Tag[] = new Array<Tag>(b.serials.length);
  const step = Math.max(1, Math.floor(b.serials.length / 200));
  for (let i = 0; i < b.serials.length; i++) {
    const p = { gtin: b.gtin, lot: b.lot, expiry: b.expiry, serial: b.serials[i]! };
    tags[i] = { ...p, uri: signTag(seed, resolver, p) };
    if (i % step === 0) bar?.update(i);
  }
  bar?.update(b.serials.length);
  bar?.stop();
  return tags;
}

/** Posts the batch entry; its prev is the product entry of the GTIN. */
export async function postBatch(c: ApiClient, key: SignerKey, b: BatchSpec): Promise<Appended> {
  const prev = await productEntryHash(c, b.gtin);
  return c.submit(await makeEntry(c, 'batch', key, { gtin: b.gtin, lot: b.lot, expiry: b.expiry, serials: b.serials }, [prev]));
}

export function tagsFileText(tags: Tag[], json: boolean): string {
  return tags.map((t) => (json ? JSON.stringify(t) : t.uri)).join('\n') + '\n';
}

interface BatchOptions {
  server: string;
  key?: string;
  gtin: string;
  lot: string;
  expiry: string;
  serials?: string;
  count?: string;
  tagsOut?: string;
  resolver?: string;
  quiet?: boolean;
  json?: boolean;
}

export function registerBatch(program: Command): void {
  clientOptions(
    program
      .command('batch')
      .description("as a manufacturer, commission a batch: sign every pack's tag, write the tags file, register the batch")
      .requiredOption('--gtin <gtin>', 'GTIN of a product you registered')
      .requiredOption('--lot <lot>', 'lot / batch number (AI 10)')
      .requiredOption('--expiry <yymmdd>', 'expiry date (AI 17, YYMMDD)')
      .option('--serials <file>', 'serials, one per line')
      .option('--count <n>', 'generate this many random serials instead')
      .option('--tags-out <file>', 'write the signed tag URI of every pack here (JSON lines with --json)')
      .option('--resolver <url>', 'Digital Link resolver in the tag URIs (default: --server, which serves the pack page)')
      .option('--quiet', 'no progress output'),
  ).action(
    action(async (o: BatchOptions) => {
      const key = loadKey(o.key);
      if ((o.serials === undefined) === (o.count === undefined)) throw new MedtrailError('CLI_USAGE', 'give exactly one of --serials FILE or --count N');
      if (o.count !== undefined && !/^[1-9][0-9]{0,6}$/.test(o.count)) throw new MedtrailError('CLI_USAGE', `--count must be a positive integer, got ${o.count}`);
      const lines = o.serials !== undefined ? readNumberedLines(o.serials) : undefined;
      const serials = lines !== undefined ? lines.map((l) => l.text) : generateSerials(Number(o.count));
      const b = checkBatch({ gtin: o.gtin, lot: o.lot, expiry: o.expiry, serials }, (i) => (lines !== undefined && o.serials !== undefined ? `${o.serials} line ${lines[i]?.line ?? i + 1}` : `serial ${i + 1}`));
      if (isExpired(b.expiry, new Date())) {
        // Registered all the same (a batch past expiry may be recorded for destruction), but never silently.
        process.stderr.write(`medtrail: warning: expiry ${b.expiry} (${gs1DateToIso(b.expiry)}) is already past: every pack of this batch will read EXPIRED\n`);
      }
      const c = new ApiClient(o.server, key);
      const resolver = (o.resolver ?? c.base).replace(/\/+$/, '');
      const t0 = performance.now();
      const tags = signTags(key, resolver, b, progress('signing tags', b.serials.length, o));
      const signMs = performance.now() - t0;
      if (o.tagsOut !== undefined) writeNewFile(o.tagsOut, tagsFileText(tags, o.json === true));
      let r: Appended;
      try {
        r = await postBatch(c, key, b);
      } catch (e) {
        if (o.tagsOut !== undefined) rmSync(o.tagsOut, { force: true });
        throw e;
      }
      const totalMs = performance.now() - t0;
      emit(
        o,
        { ...r, gtin: b.gtin, lot: b.lot, expiry: b.expiry, packs: b.serials.length, tagsOut: o.tagsOut ?? null, signMs: Math.round(signMs), totalMs: Math.round(totalMs) },
        `batch ${b.gtin} lot ${b.lot}: ${b.serials.length} packs registered, entry ${r.index} ${r.leafHash}` +
          (o.tagsOut !== undefined ? `\ntags written to ${o.tagsOut}` : '') +
          `\n${Math.round((b.serials.length / totalMs) * 1000)} packs/s (signing ${Math.round(signMs)} ms, total ${Math.round(totalMs)} ms)`,
      );
    }),
  );
}
