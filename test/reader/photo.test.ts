// `medtrail-reader --image` with what a phone really saves: a 12 MP JPEG photo of a printed label. jsQR was given
// the full 4032 x 3024 picture: over a minute of CPU, about 1 GB of memory, and no code found (IMAGE_UNREADABLE,
// exit 1). The reader now gives it the photo scaled down, to a few sizes about 1,300 pixels across first. A real server and the built
// daemon (no NFC: nothing here needs pcscd).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labelPhotoJpeg } from '../support/photo.js';
import { readerWorld, spawnReader, type ReaderWorld } from '../support/reader-world.js';

let w: ReaderWorld;
beforeAll(async () => {
  w = await readerWorld(2);
});
afterAll(async () => {
  await w?.close();
});

describe('a phone photo of a label', () => {
  // How fast is a benchmark's business; this holds that it reads at all (it used to fail after a minute).
  it('verifies from a 12 MP JPEG (GENUINE, exit 0)', async () => {
    const p = w.genuine[0]!;
    const photo = join(w.dir, 'phone-photo.jpg');
    writeFileSync(photo, await labelPhotoJpeg(w.uri(p)));
    const r = await spawnReader(['--server', w.url, '--key', w.keyFile, '--state', join(w.dir, 'photo-state'), '--no-nfc', '--once', '--image', photo], { waitReady: false });
    expect(await r.exit, `${JSON.stringify(r.lines)} ${r.stderr()}`).toBe(0);
    expect(r.lines.find((l) => 'verdict' in l)).toMatchObject({ verdict: 'GENUINE', source: 'image', uri: w.uri(p) });
  });
});
