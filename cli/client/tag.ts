// `medtrail tag write`: the manufacturer's line tool. Waits for a tag on a PC/SC reader, writes the pack's
// Digital Link URI as one NDEF URI record (reader/tag-write.ts: refuses with NFC_TAG_TOO_SMALL before writing
// anything when it does not fit), reads it back through the normal read path, optionally locks the tag for
// good. The URI comes from --uri, or from line --index of a tags file written by `medtrail batch`.
// (The CLI may import reader/ code for this: it drives the reader directly, it does not talk to the server.)
import type { Command } from 'commander';
import type { Reader } from 'nfc-pcsc';
import { parseDigitalLink } from '../../core/gs1/digital-link.js';
import { MedtrailError } from '../../core/errors.js';
import type { NfcEvent } from '../../reader/nfc.js';
import { action, emit } from '../io.js';
import { readTags } from './labels.js';

interface TagWriteOptions {
  uri?: string;
  tags?: string;
  index?: string;
  lock?: boolean;
  reader?: string;
  timeout: string;
  json?: boolean;
}

// Taps that cannot be written: an ISO 14443-4 card is not an NTAG. Everything else (blank, unformatted, an
// old URI) is a tag to write; a tag that left before its read finished is waited for again.
const NOT_WRITABLE = new Set(['NFC_NOT_NTAG']);

function uriOf(o: TagWriteOptions): string {
  if ((o.uri === undefined) === (o.tags === undefined)) throw new MedtrailError('CLI_USAGE', 'give either --uri or --tags with --index');
  if (o.uri !== undefined) {
    parseDigitalLink(o.uri);
    return o.uri;
  }
  const i = Number(o.index);
  if (o.index === undefined || !Number.isInteger(i) || i < 0) throw new MedtrailError('CLI_USAGE', '--index must be a line number from 0');
  const tags = readTags(o.tags!);
  const t = tags[i];
  if (t === undefined) throw new MedtrailError('CLI_USAGE', `${o.tags} has ${tags.length} tags; no index ${i}`);
  return t.uri;
}

/** The first tap on a matching reader: its event and the connected reader handle. */
async function nextTap(filter: string | undefined, timeoutMs: number): Promise<{ e: Extract<NfcEvent, { kind: 'tag' | 'tag-error' }>; r: Reader; close: () => void }> {
  // Loaded here, not at the top: every other command must start without the PC/SC native module.
  const { watchNfc } = await import('../../reader/nfc.js');
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      w.close();
      reject(new MedtrailError('NFC_READ_FAILED', `no tag within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    const w = watchNfc(
      (e, r) => {
        if ((e.kind !== 'tag' && e.kind !== 'tag-error') || r === undefined) return;
        if (e.kind === 'tag-error' && e.code === 'NFC_TAG_REMOVED') return;
        clearTimeout(timer);
        resolve({ e, r, close: () => w.close() });
      },
      filter === undefined ? {} : { readers: (n) => n.includes(filter) },
    );
  });
}

export function registerTag(program: Command): void {
  const tag = program.command('tag').description('NFC tags of packs (manufacturer line)');
  tag
    .command('write')
    .description("wait for a tag on the reader and write a pack's URI to it as one NDEF record (optionally lock it)")
    .option('--uri <uri>', "the pack's Digital Link URI")
    .option('--tags <file>', 'a tags file written by `medtrail batch` (one URI or JSON line per pack)')
    .option('--index <n>', 'with --tags: the line to write, from 0')
    .option('--lock', 'make the tag permanently read-only after writing (irreversible)')
    .option('--reader <name>', 'only use a reader whose name contains this text')
    .option('--timeout <s>', 'seconds to wait for a tag', '60')
    .option('--json', 'print JSON')
    .action(
      action(async (o: TagWriteOptions) => {
        const uri = uriOf(o);
        const timeout = Number(o.timeout);
        if (!Number.isFinite(timeout) || timeout <= 0) throw new MedtrailError('CLI_USAGE', '--timeout must be a positive number of seconds');
        if (!o.json) process.stderr.write(`medtrail: waiting for a tag${o.reader ? ` on ${o.reader}` : ''}...\n`);
        const { e, r, close } = await nextTap(o.reader, timeout * 1000);
        const { readTagUri } = await import('../../reader/nfc.js');
        const { writeUriTag } = await import('../../reader/tag-write.js');
        try {
          if (e.kind === 'tag-error' && NOT_WRITABLE.has(e.code)) throw new MedtrailError(e.code, e.message);
          const res = await writeUriTag(r, uri, { ...(o.lock ? { lock: true } : {}) });
          const back = await readTagUri(r);
          if (back.uri !== uri) throw new MedtrailError('NFC_WRITE_FAILED', 'the tag reads back a different URI');
          emit(o, { uri, uid: e.uid ?? null, reader: e.reader, ...res }, `wrote ${res.bytes} bytes to ${res.tagType} ${e.uid ?? ''} on ${e.reader}${res.locked ? ', locked' : ''}`);
        } finally {
          close();
        }
        // pcsclite's status threads outlive close() (reader/nfc.ts): leave now.
        process.exit(0);
      }),
    );
}
