// End to end, as the people of docs/architecture.md would do it: the built `medtrail` CLI for every role against a real
// `medtrail serve` process on a temporary SQLite file, over HTTP only. A 10,000-pack batch goes from the
// manufacturer to the distributor to the pharmacy, and every verdict is produced by real entries (and, for
// COUNTERFEIT and UNKNOWN, by real tampering with a tag).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import jsqrModule from 'jsqr';
import { PNG } from 'pngjs';
import { toBase64Url } from '../../core/bytes.js';
import { formatDigitalLink, parseDigitalLink } from '../../core/gs1/digital-link.js';
import { sign } from '../../core/crypto/ed25519.js';
import { installNodeCrypto } from '../../core/crypto/ed25519-node.js';
import { checkDigit } from '../../core/gs1/identifiers.js';
import { generateKeyFile, keyFileSeed, parseKeyFile } from '../../core/crypto/keys.js';
import { packIdentityBytes } from '../../core/tag/pack.js';
import { yymmdd } from '../../cli/demo-chain.js';
import { exitCodeOf, type Verdict } from '../../core/verdict.js';
import { cli, type CliResult } from '../support/cli.js';
import { gln } from '../support/ledger.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { tempDir } from '../support/tmp.js';

installNodeCrypto();
// jsqr is CommonJS with a `default` member; under NodeNext its default import is the module object.
const jsQR = (jsqrModule as unknown as { default: typeof jsqrModule.default }).default;

const PREFIX = '4012345';
const DAY = 86_400_000;

describe('custody end to end through the CLI', () => {
  const t = tempDir('medtrail-e2e-');
  const db = join(t.dir, 'medtrail.db');
  const authority = join(t.dir, 'authority.key.json');
  const keyPath = (role: string): string => join(t.dir, `${role}.key.json`);
  const gtin = `0${PREFIX}00017${checkDigit(`0${PREFIX}00017`)}`;
  const glns = { manufacturer: gln(11), distributor: gln(12), pharmacy: gln(13) };
  let server: ServerProcess;
  let tags: string[] = [];

  const run = (args: string[], input?: string): CliResult => cli([...args, '--server', server.url], input === undefined ? {} : { input });
  /** Runs a command that must succeed, with --json, and returns its JSON. */
  const ok = <T = Record<string, unknown>>(args: string[]): T => {
    const r = run([...args, '--json']);
    if (r.status !== 0) throw new Error(`medtrail ${args.join(' ')} exited ${r.status}: ${r.stderr}\nserver: ${server.stderr()}`);
    return JSON.parse(r.stdout) as T;
  };
  /** `medtrail verify`: the verdict, with the exit code the one rule gives it (core/verdict.ts exitCodeOf). */
  const verdict = (uri: string, key?: string): string => {
    const r = run(['verify', uri, ...(key ? ['--key', keyPath(key)] : []), '--json']);
    const v = (JSON.parse(r.stdout) as { verdict: Verdict }).verdict;
    expect(r.status, `${v}: ${r.stderr}`).toBe(exitCodeOf(v));
    return v;
  };
  /** A refusal: exit 1, the server's code on stderr (human and JSON forms). */
  const refused = (args: string[], code: string): void => {
    const human = run(args);
    expect(human.status, human.stderr).toBe(1);
    expect(human.stderr).toContain(`medtrail: ${code}:`);
    const json = run([...args, '--json']);
    expect(json.status).toBe(1);
    expect((JSON.parse(json.stderr) as { error: { code: string } }).error.code).toBe(code);
  };
  const pack = (i: number): string => {
    const dl = parseDigitalLink(tags[i]!);
    return `${dl.gtin}:${dl.serial!}`;
  };

  beforeAll(async () => {
    const init = cli(['init', '--db', db, '--json']);
    expect(init.status, init.stderr).toBe(0);
    server = await startServerProcess(db);
    for (const [role, g] of Object.entries(glns)) {
      expect(cli(['keygen', '--out', keyPath(role), '--name', `E2E ${role}`, '--gln', g]).status).toBe(0);
    }
  });
  afterAll(async () => {
    await server?.stop();
    t.cleanup();
  });

  it('enrolls the three participants and registers the product', () => {
    for (const role of Object.keys(glns)) {
      const args = ['enroll', '--authority-key', authority, '--participant-key', keyPath(role), '--role', role];
      ok(role === 'manufacturer' ? [...args, '--prefix', PREFIX] : args);
    }
    ok(['product', '--key', keyPath('manufacturer'), '--gtin', gtin, '--name', 'Examplomab', '--form', 'tablet', '--strength', '10 mg', '--pack-size', '30']);
  });

  it('registers a 10,000-pack batch and writes a signed tag for every pack', () => {
    const out = join(t.dir, 'tags.txt');
    const r = ok<{ packs: number; index: number }>(['batch', '--key', keyPath('manufacturer'), '--gtin', gtin, '--lot', 'L10K', '--expiry', yymmdd(new Date(Date.now() + 700 * DAY)), '--count', '10000', '--tags-out', out]);
    expect(r.packs).toBe(10_000);
    // --json writes JSON lines; each has the URI and its parts.
    const lines = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { uri: string; serial: string; lot: string });
    expect(lines).toHaveLength(10_000);
    tags = lines.map((l) => l.uri);
    expect(new Set(lines.map((l) => l.serial)).size).toBe(10_000);
    const dl = parseDigitalLink(tags[0]!);
    expect(dl.resolver).toBe(server.url);
    expect(dl.lot).toBe('L10K');
    expect(dl.sig).toMatch(/^[A-Za-z0-9_-]{86}$/);
  });

  it('moves the lot from the manufacturer to the distributor, and on to the pharmacy', () => {
    const toD = ok<{ leafHash: string; packs: number }>(['ship', '--key', keyPath('manufacturer'), '--to', glns.distributor, '--lot', `${gtin}:L10K`]);
    expect(toD.packs).toBe(10_000);
    // Before it is received, the pack is in transit.
    expect(verdict(tags[0]!)).toBe('IN_TRANSIT');
    ok(['receive', '--key', keyPath('distributor'), '--shipment', toD.leafHash]);
    expect(verdict(tags[0]!)).toBe('GENUINE');

    // The last pack goes alone and is never received: it stays in transit. The rest follow as a lot.
    const alone = ok<{ index: number }>(['ship', '--key', keyPath('distributor'), '--to', glns.pharmacy, '--pack', pack(9999)]);
    const toP = ok<{ leafHash: string; index: number; packs: number }>(['ship', '--key', keyPath('distributor'), '--to', glns.pharmacy, '--lot', `${gtin}:L10K`]);
    expect(toP.packs).toBe(9_999);
    // A shipment may be named by its log index too.
    ok(['receive', '--key', keyPath('pharmacy'), '--shipment', String(toP.index)]);
    expect(alone.index).toBeLessThan(toP.index);
    expect(verdict(tags[9999]!)).toBe('IN_TRANSIT');
  });

  it('refuses what the rules forbid, with the server code and exit 1', () => {
    refused(['ship', '--key', keyPath('manufacturer'), '--to', glns.distributor, '--pack', pack(5)], 'NOT_HOLDER');
    refused(['dispense', '--key', keyPath('distributor'), '--pack', pack(9999)], 'ROLE_NOT_ALLOWED');
    refused(['ship', '--key', keyPath('distributor'), '--to', glns.pharmacy, '--pack', pack(9999)], 'ALREADY_SHIPPED');
    const r = cli(['verify', tags[0]!, '--server', 'http://127.0.0.1:1', '--json']);
    expect(r.status).toBe(1);
    expect((JSON.parse(r.stderr) as { error: { code: string } }).error.code).toBe('SERVER_UNREACHABLE');
  });

  it('GENUINE at the pharmacy, DISPENSED after dispense, GENUINE again after undo', () => {
    expect(verdict(tags[0]!)).toBe('GENUINE');
    ok(['dispense', '--key', keyPath('pharmacy'), '--pack', tags[0]!]);
    expect(verdict(tags[0]!)).toBe('DISPENSED');
    refused(['dispense', '--key', keyPath('pharmacy'), '--pack', pack(0)], 'PACK_NOT_ACTIVE');
    ok(['undo', '--key', keyPath('pharmacy'), '--pack', pack(0)]);
    expect(verdict(tags[0]!)).toBe('GENUINE');
  });

  it('RECALLED after a recall of the lot', () => {
    const out = join(t.dir, 'recall-tags.txt');
    ok(['batch', '--key', keyPath('manufacturer'), '--gtin', gtin, '--lot', 'LREC', '--expiry', yymmdd(new Date(Date.now() + 700 * DAY)), '--count', '3', '--tags-out', out]);
    const uri = (JSON.parse(readFileSync(out, 'utf8').split('\n')[0]!) as { uri: string }).uri;
    expect(verdict(uri)).toBe('GENUINE');
    ok(['recall', '--key', keyPath('manufacturer'), '--gtin', gtin, '--lot', 'LREC', '--reason', 'contamination found at release testing']);
    expect(verdict(uri)).toBe('RECALLED');
  });

  it('EXPIRED for a pack whose expiry is past', () => {
    const out = join(t.dir, 'old-tags.txt');
    const r = run(['batch', '--key', keyPath('manufacturer'), '--gtin', gtin, '--lot', 'LOLD', '--expiry', yymmdd(new Date(Date.now() - 30 * DAY)), '--count', '2', '--tags-out', out]);
    expect(r.status, r.stderr).toBe(0);
    expect(verdict(readFileSync(out, 'utf8').split('\n')[0]!)).toBe('EXPIRED');
  });

  it('UNKNOWN for a serial never registered', () => {
    const m = parseKeyFile(readFileSync(keyPath('manufacturer'), 'utf8'));
    const dl = parseDigitalLink(tags[1]!);
    const id = { gtin, lot: dl.lot!, expiry: dl.expiry!, serial: 'NEVERREGISTERED1' };
    const uri = formatDigitalLink({ ...dl, ...id, sig: toBase64Url(sign(packIdentityBytes(id), keyFileSeed(m))) });
    expect(verdict(uri)).toBe('UNKNOWN');
  });

  it('COUNTERFEIT: a forger key, a lot changed in the URI, a signature copied onto another serial', () => {
    const dl = parseDigitalLink(tags[1]!);
    const id = { gtin, lot: dl.lot!, expiry: dl.expiry!, serial: dl.serial! };
    const forger = generateKeyFile('forger', gln(99));
    expect(verdict(formatDigitalLink({ ...dl, sig: toBase64Url(sign(packIdentityBytes(id), keyFileSeed(forger))) }))).toBe('COUNTERFEIT');
    expect(verdict(formatDigitalLink({ ...dl, lot: 'LFAKE' }))).toBe('COUNTERFEIT');
    const other = parseDigitalLink(tags[2]!);
    expect(verdict(formatDigitalLink({ ...other, sig: dl.sig! }))).toBe('COUNTERFEIT');
    // The untouched tag is still genuine: the verdicts above come from the tampering alone.
    expect(verdict(tags[1]!)).toBe('GENUINE');
  });

  it('verifies as a participant with a signed request', () => {
    expect(verdict(tags[1]!, 'pharmacy')).toBe('GENUINE');
  });

  it('receive records discrepancies: a shipped pack missing turns SUSPICIOUS, the rest pass to the recipient', () => {
    const out = join(t.dir, 'dis-tags.txt');
    ok(['batch', '--key', keyPath('manufacturer'), '--gtin', gtin, '--lot', 'LDIS', '--expiry', yymmdd(new Date(Date.now() + 700 * DAY)), '--count', '3', '--tags-out', out]);
    const uris = readFileSync(out, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { uri: string }).uri);
    const s = ok<{ leafHash: string; packs: number }>(['ship', '--key', keyPath('manufacturer'), '--to', glns.distributor, '--packs-file', out]);
    expect(s.packs).toBe(3);
    ok(['receive', '--key', keyPath('distributor'), '--shipment', s.leafHash, '--missing', uris[0]!, '--extra', pack(5)]);
    expect(verdict(uris[0]!)).toBe('SUSPICIOUS');
    expect(verdict(uris[1]!)).toBe('GENUINE');
    // The public journey of the missing pack ends 'missing', not at the recipient's: that receive did not bring it
    // anywhere (it used to read "distributed", or "at the pharmacy" for a pharmacy's receive).
    const steps = (uri: string): string[] => (JSON.parse(run(['verify', uri, '--json']).stdout) as { journey: { step: string }[] }).journey.map((j) => j.step);
    expect(steps(uris[0]!)).toEqual(['made', 'in_transit', 'missing']);
    expect(steps(uris[1]!)).toEqual(['made', 'in_transit', 'distributed']);
    // Custody of the others passed: the distributor can ship one on; the manufacturer no longer can.
    refused(['ship', '--key', keyPath('manufacturer'), '--to', glns.pharmacy, '--pack', uris[1]!], 'NOT_HOLDER');
    ok(['ship', '--key', keyPath('distributor'), '--to', glns.pharmacy, '--pack', uris[1]!]);
    // A receive of a closed shipment is refused.
    refused(['receive', '--key', keyPath('distributor'), '--shipment', s.leafHash], 'SHIPMENT_CLOSED');
  });

  it('enroll --rotate replaces a key and --revoke ends it', () => {
    const g = gln(14);
    expect(cli(['keygen', '--out', keyPath('old'), '--name', 'E2E second pharmacy', '--gln', g]).status).toBe(0);
    expect(cli(['keygen', '--out', keyPath('new'), '--name', 'E2E second pharmacy', '--gln', g]).status).toBe(0);
    ok(['enroll', '--authority-key', authority, '--participant-key', keyPath('old'), '--role', 'pharmacy']);
    // A signed scan by a pharmacy that does not hold the pack: answered, and flagged.
    expect(verdict(tags[3]!, 'old')).toBe('SUSPICIOUS');
    const flagged = run(['verify', tags[3]!, '--key', keyPath('old'), '--json']);
    expect(flagged.status).toBe(3);
    expect((JSON.parse(flagged.stdout) as { reasons: { code: string }[] }).reasons.map((r) => r.code)).toContain('SCANNED_OUTSIDE_CUSTODY');
    ok(['enroll', '--authority-key', authority, '--rotate', '--participant-key', keyPath('new')]);
    refused(['verify', tags[3]!, '--key', keyPath('old')], 'AUTH_BAD_SIGNATURE');
    expect(verdict(tags[3]!, 'new')).toBe('SUSPICIOUS');
    ok(['enroll', '--authority-key', authority, '--revoke', '--gln', g]);
    refused(['verify', tags[3]!, '--key', keyPath('new')], 'AUTH_KEY_REVOKED');
    // Only the authority admits: a participant's key is refused as the signer of an enrollment.
    refused(['enroll', '--authority-key', keyPath('pharmacy'), '--participant-key', keyPath('old'), '--role', 'pharmacy'], 'ROLE_NOT_ALLOWED');
  });

  it('demo --json prints exactly one URI per verdict, each showing that verdict', () => {
    const r = run(['demo', '--authority-key', authority, '--dir', join(t.dir, 'demo'), '--json']);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { packs: Record<string, string> };
    expect(Object.keys(out)).toEqual(['packs']);
    expect(Object.keys(out.packs).sort()).toEqual(['COUNTERFEIT', 'DISPENSED', 'EXPIRED', 'GENUINE', 'IN_TRANSIT', 'RECALLED', 'UNKNOWN']);
    for (const [v, uri] of Object.entries(out.packs)) {
      expect(parseDigitalLink(uri).resolver).toBe(server.url);
      expect(verdict(uri), v).toBe(v);
    }
  });

  it('labels: one PNG per pack that decodes to its URI, and a printable sheet', () => {
    const few = join(t.dir, 'few.txt');
    writeFileSync(few, `${tags.slice(0, 3).join('\n')}\n`);
    const out = join(t.dir, 'labels');
    const res = cli(['labels', '--tags', few, '--out', out, '--format', 'png', '--json']);
    expect(res.status, res.stderr).toBe(0);
    const r = JSON.parse(res.stdout) as { count: number; files: string[]; sheet: string };
    expect(r.count).toBe(3);
    expect(readdirSync(out).filter((f) => f.endsWith('.png'))).toHaveLength(3);
    for (const [i, file] of r.files.entries()) {
      const png = PNG.sync.read(readFileSync(file));
      const qr = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
      expect(qr?.data).toBe(tags[i]);
    }
    const html = readFileSync(r.sheet, 'utf8');
    for (const uri of tags.slice(0, 3)) {
      const dl = parseDigitalLink(uri);
      expect(html).toContain(`(21) ${dl.serial!}`);
      expect(html).toContain(`(10) ${dl.lot!}`);
    }
    expect((html.match(/<svg/g) ?? []).length).toBe(3);
  });

  it('verify exits by the class of verdict: 0 GENUINE, 3 an alert about a real pack, 4 not genuine', () => {
    expect(run(['verify', tags[1]!]).status).toBe(0);
    expect(run(['verify', tags[9999]!]).status).toBe(3); // IN_TRANSIT
    const forged = formatDigitalLink({ ...parseDigitalLink(tags[1]!), sig: toBase64Url(new Uint8Array(64)) });
    expect(run(['verify', forged]).status).toBe(4);
    const words = run(['verify', 'hello world']);
    expect(words.status).toBe(1);
    expect(words.stderr).toContain('"hello world" is not a pack code');
    expect(words.stderr).not.toContain('offset');
  });

  it('shipments and held show what waits for a party and what it holds; epcis prints a pack\'s history', () => {
    const waiting = ok<{ shipments: { index: number; from: string; count: number }[] }>(['shipments', '--key', keyPath('pharmacy')]);
    // The pack shipped alone and never received is among them.
    expect(waiting.shipments.length).toBeGreaterThan(0);
    expect(waiting.shipments).toContainEqual(expect.objectContaining({ from: glns.distributor, count: 1 }));
    expect(run(['shipments', '--key', keyPath('pharmacy')]).stdout).toContain('medtrail receive --shipment');
    const held = ok<{ packs: { gtin: string; serial: string }[] }>(['held', '--key', keyPath('pharmacy'), '--limit', '5']);
    expect(held.packs.length).toBe(5);
    const doc = ok<{ type: string; epcisBody: { eventList: unknown[] } }>(['epcis', tags[1]!, '--key', keyPath('pharmacy')]);
    expect(doc.type).toBe('EPCISDocument');
    expect(doc.epcisBody.eventList.length).toBeGreaterThan(2);
    // A shipment index that is not waiting for this party is named, with what is waiting.
    const r = run(['receive', '--key', keyPath('pharmacy'), '--shipment', '9999999']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('SHIPMENT_UNKNOWN');
    expect(r.stderr).toContain(`no open shipment to ${glns.pharmacy} at log index 9999999`);
    expect(r.stderr).toContain(`from ${glns.distributor}`);
    expect(r.stderr).not.toContain('start');
  });

  it('receive picks from what waits: several need --shipment (listed), the only one is taken (last: it changes what later tests would see)', () => {
    let waiting = ok<{ shipments: { index: number }[] }>(['shipments', '--key', keyPath('pharmacy')]).shipments;
    while (waiting.length > 1) {
      const r = run(['receive', '--key', keyPath('pharmacy')]);
      expect(r.status).toBe(2);
      expect(r.stderr).toContain(`${waiting.length} shipments are waiting`);
      for (const s of waiting) expect(r.stderr).toContain(`  ${s.index}  from `);
      ok(['receive', '--key', keyPath('pharmacy'), '--shipment', String(waiting[0]!.index)]);
      waiting = ok<{ shipments: { index: number }[] }>(['shipments', '--key', keyPath('pharmacy')]).shipments;
    }
    expect(waiting).toHaveLength(1);
    const r = ok<{ ship: string }>(['receive', '--key', keyPath('pharmacy')]);
    expect(r.ship).toMatch(/^[0-9a-f]{64}$/);
    expect(ok<{ shipments: unknown[] }>(['shipments', '--key', keyPath('pharmacy')]).shipments).toEqual([]);
    expect(verdict(tags[9999]!)).toBe('GENUINE');
  });
});

