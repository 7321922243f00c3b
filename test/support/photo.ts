// A phone's photo of a printed QR label, made here without a camera: the label (qrcode, as `medtrail labels`
// prints it) placed in a 12 MP frame (4032 x 3024, a common phone sensor), turned a little, on an uneven
// background, paper not quite white and ink not quite black, with sensor noise and light falling off across the
// frame, saved as JPEG at quality 75 (jpeg-js). Deterministic: the same URI gives the same bytes.
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import QRCode from 'qrcode';

export interface PhotoOptions {
  width?: number;
  height?: number;
  /** Degrees the label is turned by. */
  angle?: number;
  /** Photo pixels per label pixel. */
  scale?: number;
}

export async function labelPhotoJpeg(uri: string, o: PhotoOptions = {}): Promise<Buffer> {
  const label = PNG.sync.read(await QRCode.toBuffer(uri, { errorCorrectionLevel: 'M', scale: 8 }));
  const W = o.width ?? 4032;
  const H = o.height ?? 3024;
  const ang = ((o.angle ?? 11) * Math.PI) / 180;
  const s = o.scale ?? 1.6;
  const cx = W * 0.55;
  const cy = H * 0.45;
  const cos = Math.cos(ang);
  const sin = Math.sin(ang);
  let seed = 7;
  const noise = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff - 0.5;
  const out = Buffer.alloc(W * H * 4);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const dx = (x - cx) / s;
      const dy = (y - cy) / s;
      const lx = cos * dx + sin * dy + label.width / 2;
      const ly = -sin * dx + cos * dy + label.height / 2;
      let v = 150 + 40 * Math.sin(x / 300) * Math.cos(y / 250);
      if (lx >= 0 && ly >= 0 && lx < label.width && ly < label.height) v = label.data[(Math.floor(ly) * label.width + Math.floor(lx)) * 4]! * 0.85 + 20;
      v = Math.max(0, Math.min(255, v + noise() * 40 - (x / W) * 30));
      const i = (y * W + x) * 4;
      out[i] = v;
      out[i + 1] = v * 0.97;
      out[i + 2] = v * 0.9;
      out[i + 3] = 255;
    }
  }
  return jpeg.encode({ data: out, width: W, height: H }, 75).data;
}
