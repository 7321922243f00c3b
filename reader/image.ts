// QR codes from image files (a photo of a label, a scan saved by another tool), decoded offline with jsQR over
// pngjs for PNG and jpeg-js for JPEG (what phones save photos as). Both decoders are bounded in pixels and
// memory before they start, since an image file is hostile input like any other.
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
  const qr = jsQR(new Uint8ClampedArray(img.data.buffer, img.data.byteOffset, img.data.length), img.width, img.height);
  if (qr === null || qr.data === '') throw new MedtrailError('IMAGE_UNREADABLE', `${name} holds no readable QR code`);
  return qr.data;
}
