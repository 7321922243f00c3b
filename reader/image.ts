// QR codes from image files (a photo of a label, a scan saved by another tool), decoded offline with jsQR
// over pngjs. PNG only: a JPEG decoder would be one more dependency (the issue asks for a well-kept library
// and no new packages here), so a JPEG is refused with IMAGE_UNREADABLE saying so.
import { readFileSync } from 'node:fs';
import jsQRModule from 'jsqr';
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

/** The text of the QR code in a PNG file. Throws IMAGE_UNREADABLE (or CLI_IO) only. */
export function decodeQrFile(path: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new MedtrailError('CLI_IO', `cannot read ${path}`, { cause: e });
  }
  return decodeQrPng(bytes, path);
}

export function decodeQrPng(bytes: Buffer, name = 'image'): string {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) {
    throw new MedtrailError('IMAGE_UNREADABLE', `${name} is a JPEG: only PNG images are decoded (save or scan it as PNG)`);
  }
  if (!bytes.subarray(0, 8).equals(PNG_MAGIC)) throw new MedtrailError('IMAGE_UNREADABLE', `${name} is not a PNG image`);
  let png: PNG;
  try {
    png = PNG.sync.read(bytes);
  } catch (e) {
    throw new MedtrailError('IMAGE_UNREADABLE', `${name}: the PNG does not decode (${messageOf(e)})`, { cause: e });
  }
  if (png.width * png.height > MAX_PIXELS) throw new MedtrailError('IMAGE_UNREADABLE', `${name} is larger than ${MAX_PIXELS} pixels`);
  const qr = jsQR(new Uint8ClampedArray(png.data.buffer, png.data.byteOffset, png.data.length), png.width, png.height);
  if (qr === null || qr.data === '') throw new MedtrailError('IMAGE_UNREADABLE', `${name} holds no readable QR code`);
  return qr.data;
}
