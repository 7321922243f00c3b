// `medtrail labels`: QR labels for the packaging line from a tags file written by `medtrail batch`: one SVG or
// PNG per pack (the qrcode package, error correction M, which survives a scuffed carton), and a printable HTML
// sheet with the human-readable GTIN, lot, expiry and serial under each code, as GS1 asks of every carrier.
import { isJsonObject } from '../../core/api/wire.js';
import type { Command } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import QRCode from 'qrcode';
import { parseDigitalLink } from '../../core/gs1/digital-link.js';
import { MedtrailError } from '../../core/errors.js';
import { gs1DateToIso } from '../../core/gs1/date.js';
import { action, emit } from '../io.js';
import { readLines } from '../pack-refs.js';
import { progress } from '../progress.js';

export interface Label {
  uri: string;
  gtin: string;
  lot: string;
  expiry: string;
  serial: string;
  file: string;
}

/** Tag lines (URIs, or JSON lines with "uri") to labels; each URI must carry lot, serial and expiry. */
export function readTags(path: string): Omit<Label, 'file'>[] {
  return readLines(path).map((line) => {
    let uri = line;
    if (line.startsWith('{')) {
      try {
        const j: unknown = JSON.parse(line);
        uri = String(isJsonObject(j) ? j['uri'] : undefined);
      } catch (e) {
        throw new MedtrailError('CLI_USAGE', `${path}: a line is neither a URI nor JSON`, { cause: e });
      }
    }
    const dl = parseDigitalLink(uri);
    if (dl.lot === undefined || dl.serial === undefined || dl.expiry === undefined) {
      throw new MedtrailError('CLI_USAGE', `${path}: ${uri} lacks a lot, serial or expiry`);
    }
    return { uri, gtin: dl.gtin, lot: dl.lot, expiry: dl.expiry, serial: dl.serial };
  });
}

/** A file name that keeps every AI 82 serial distinct: anything but [A-Za-z0-9-] becomes _<hex>. */
export function safeName(s: string): string {
  return s.replace(/[^A-Za-z0-9-]/g, (ch) => `_${ch.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function sheet(labels: Label[], svgs: string[]): string {
  const cells = labels
    .map(
      (l, i) => `<figure>${svgs[i]!}<figcaption>(01) ${esc(l.gtin)}<br>(10) ${esc(l.lot)}<br>(17) ${esc(l.expiry)} <small>${gs1DateToIso(l.expiry)}</small><br>(21) ${esc(l.serial)}</figcaption></figure>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>medtrail labels</title>
<style>
  @page { size: A4; margin: 10mm; }
  body { font: 9pt/1.25 ui-monospace, monospace; margin: 0; }
  main { display: grid; grid-template-columns: repeat(auto-fill, 45mm); gap: 4mm; }
  figure { margin: 0; break-inside: avoid; text-align: center; }
  figure svg { width: 32mm; height: 32mm; }
  figcaption { text-align: left; }
</style></head>
<body><main>
${cells}
</main></body></html>
`;
}

export interface LabelOptions {
  out: string;
  format: 'svg' | 'png';
  sheet?: string;
  json?: boolean;
  quiet?: boolean;
}

export async function writeLabels(tags: Omit<Label, 'file'>[], o: LabelOptions): Promise<{ labels: Label[]; sheet: string }> {
  mkdirSync(o.out, { recursive: true });
  const bar = progress('labels', tags.length, o);
  const labels: Label[] = [];
  const svgs: string[] = [];
  for (const [i, t] of tags.entries()) {
    const file = join(o.out, `${t.gtin}_${safeName(t.serial)}.${o.format}`);
    const svg = await QRCode.toString(t.uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
    if (o.format === 'svg') writeFileSync(file, svg);
    else writeFileSync(file, await QRCode.toBuffer(t.uri, { type: 'png', errorCorrectionLevel: 'M', margin: 2, scale: 4 }));
    svgs.push(svg.replace(/^<\?xml[^>]*>/, ''));
    labels.push({ ...t, file });
    bar.update(i + 1);
  }
  bar.stop();
  const sheetPath = o.sheet ?? join(o.out, 'sheet.html');
  writeFileSync(sheetPath, sheet(labels, svgs));
  return { labels, sheet: sheetPath };
}

export function registerLabels(program: Command): void {
  program
    .command('labels')
    .description('QR labels from a tags file: one SVG or PNG per pack, and a printable HTML sheet')
    .requiredOption('--tags <file>', 'tags file written by `medtrail batch --tags-out`')
    .option('--out <dir>', 'folder for the label files', './labels')
    .option('--format <svg|png>', 'image format of each label', 'svg')
    .option('--sheet <file>', 'printable HTML sheet (default: <out>/sheet.html)')
    .option('--quiet', 'no progress output')
    .option('--json', 'print JSON')
    .action(
      action(async (o: { tags: string; out: string; format: string; sheet?: string; quiet?: boolean; json?: boolean }) => {
        if (o.format !== 'svg' && o.format !== 'png') throw new MedtrailError('CLI_USAGE', `--format must be svg or png, got ${o.format}`);
        const r = await writeLabels(readTags(o.tags), { ...o, format: o.format });
        emit(o, { count: r.labels.length, out: o.out, sheet: r.sheet, files: r.labels.map((l) => l.file) }, `${r.labels.length} labels in ${o.out}, sheet ${r.sheet}`);
      }),
    );
}
