// QR codes from image files (a photo of a label, a scan saved by another tool), decoded offline with jsQR over
// pngjs for PNG and jpeg-js for JPEG (what phones save photos as). Both decoders are bounded in pixels and
// memory before they start, since an image file is hostile input like any other.
//
// jsQR is given the picture scaled down, never a phone's full 12 MP: on 4032x3024 photos of a label it took
// 60 to 100 s at full size and found nothing, 7 to 16 s at 2016 px across (nothing either), and 0.1 to 0.3 s at
// 1008 to 1344 px, where it found the code, though not at every one of those sizes for every photo. So a few
// sizes about 1,300 px across are tried first (cheap), then one up to 2,048. Averaging pixels down also smooths
// a sensor's noise.
import { readFileSync } from 'node:fs';
import jsQRModule from 'jsqr';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { MedtrailError, messageOf } from '../core/errors.js';

const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
// jsqr is CommonJS with `export default`: under NodeNext its default import may be the module object, whose
// `default` is the function; under a bundler it is the function itself.
type JsQr = typeof jsQRModule.default;
function isJsQr(f: unknown): f is JsQr {
  return typeof f === 'function';
}
const jsQrExports: unknown = jsQRModule;
const jsQrDefault: unknown = typeof jsQrExports === 'object' && jsQrExports !== null && 'default' in jsQrExports ? jsQrExports.default : jsQrExports;
const jsQR: JsQr = isJsQr(jsQrDefault) ? jsQrDefault : jsQRModule.default;
const MAX_PIXELS = 40_000_000;
/** Long sides for jsQR: the one tried first, the cheap range, the smallest worth trying, the largest tried. */
const PREFERRED_SIDE = 1300;
const CHEAP_SIDE = 1700;
const MIN_SIDE = 600;
const MAX_SIDE = 2048;

/**
 * The whole-number factors to shrink a picture of long side `long` by, in the order to try them: up to three
 * cheap ones nearest PREFERRED_SIDE, then the least shrinking one that stays within MAX_SIDE. A picture smaller
 * than MIN_SIDE goes as it is.
 */
export function shrinkSteps(long: number): number[] {
  const fit: number[] = [];
  for (let f = 1; long / f >= Math.min(MIN_SIDE, long); f++) if (long / f <= MAX_SIDE) fit.push(f);
  const cheap = fit
    .filter((f) => long / f <= CHEAP_SIDE)
    .sort((a, b) => Math.abs(long / a - PREFERRED_SIDE) - Math.abs(long / b - PREFERRED_SIDE))
    .slice(0, 3);
  const dear = fit.filter((f) => long / f > CHEAP_SIDE).slice(-1);
  return [...cheap, ...dear];
}

/** The text of the QR code in a PNG or JPEG file. Throws IMAGE_UNREADABLE (or CLI_IO) only. */
export function decodeQrFile(path: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new MedtrailError('CLI_IO', `cannot read ${path}`, { cause: e });
  }
  return decodeQrImage(bytes, path);
}

/** The RGBA pixels of a PNG or JPEG image (phone photos are JPEG), bounded in size; IMAGE_UNREADABLE otherwise. */
function pixelsOf(bytes: Buffer, name: string): { data: Uint8Array; width: number; height: number } {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) {
    try {
      // maxResolutionInMP bounds the work a hostile file can ask for before a single pixel is decoded.
      return jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: MAX_PIXELS / 1e6, maxMemoryUsageInMB: 512 });
    } catch (e) {
      throw new MedtrailError('IMAGE_UNREADABLE', `${name}: the JPEG does not decode (${messageOf(e)})`, { cause: e });
    }
  }
  if (!bytes.subarray(0, 8).equals(PNG_MAGIC)) throw new MedtrailError('IMAGE_UNREADABLE', `${name} is neither a PNG nor a JPEG image`);
  let png: PNG;
  try {
    png = PNG.sync.read(bytes);
  } catch (e) {
    throw new MedtrailError('IMAGE_UNREADABLE', `${name}: the PNG does not decode (${messageOf(e)})`, { cause: e });
  }
  return { data: png.data, width: png.width, height: png.height };
}

/** The text of the QR code in a PNG or JPEG image. */
export function decodeQrImage(bytes: Buffer, name = 'image'): string {
  const img = pixelsOf(bytes, name);
  if (img.width * img.height > MAX_PIXELS) throw new MedtrailError('IMAGE_UNREADABLE', `${name} is larger than ${MAX_PIXELS} pixels`);
  const long = Math.max(img.width, img.height);
  for (const f of shrinkSteps(long)) {
    const s = f === 1 ? { data: new Uint8ClampedArray(img.data.buffer, img.data.byteOffset, img.data.length), width: img.width, height: img.height } : shrink(img, f);
    const qr = jsQR(s.data, s.width, s.height);
    if (qr !== null && qr.data !== '') return qr.data;
  }
  throw new MedtrailError('IMAGE_UNREADABLE', `${name} holds no readable QR code (a sharp photo with the code filling a good part of it reads best)`);
}

/** `img` made `f` times smaller each way, every pixel the average of the f x f it replaces (RGBA, opaque). */
function shrink(img: { data: Uint8Array; width: number; height: number }, f: number): { data: Uint8ClampedArray; width: number; height: number } {
  const width = Math.floor(img.width / f);
  const height = Math.floor(img.height / f);
  const out = new Uint8ClampedArray(width * height * 4);
  const n = f * f;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (let j = 0; j < f; j++) {
        let i = ((y * f + j) * img.width + x * f) * 4;
        for (let k = 0; k < f; k++, i += 4) {
          r += img.data[i]!;
          g += img.data[i + 1]!;
          b += img.data[i + 2]!;
        }
      }
      const o = (y * width + x) * 4;
      out[o] = r / n;
      out[o + 1] = g / n;
      out[o + 2] = b / n;
      out[o + 3] = 255;
    }
  }
  return { data: out, width, height };
}
