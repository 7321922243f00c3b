// Reads a QR code (or DataMatrix) from the camera: the browser's BarcodeDetector where it has one, else jsQR on
// video frames. jsQR is loaded only on that path (a separate chunk), so the page stays small for everyone else.

interface DetectedBarcode {
  rawValue: string;
}
interface BarcodeDetectorLike {
  detect(source: CanvasImageSource): Promise<DetectedBarcode[]>;
}
type BarcodeDetectorCtor = new (opts: { formats: string[] }) => BarcodeDetectorLike;

/** Starts the camera into `video` and calls `onCode` once with the first code read; `stop()` ends it. */
export async function startScan(video: HTMLVideoElement, onCode: (text: string) => void): Promise<{ stop: () => void }> {
  const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' }, audio: false });
  let stopped = false;
  const stop = (): void => {
    stopped = true;
    for (const track of stream.getTracks()) track.stop();
    video.srcObject = null;
  };
  video.srcObject = stream;
  video.muted = true;
  video.setAttribute('playsinline', '');
  await video.play();

  const Ctor = (globalThis as { BarcodeDetector?: BarcodeDetectorCtor }).BarcodeDetector;
  let read: () => Promise<string | null>;
  if (Ctor !== undefined) {
    const detector = new Ctor({ formats: ['qr_code', 'data_matrix'] });
    read = async () => (await detector.detect(video))[0]?.rawValue ?? null;
  } else {
    const { default: jsQR } = await import('jsqr');
    const canvas = document.createElement('canvas');
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    read = async () => {
      const w = video.videoWidth;
      const hgt = video.videoHeight;
      if (ctx === null || w === 0 || hgt === 0) return null;
      canvas.width = w;
      canvas.height = hgt;
      ctx.drawImage(video, 0, 0, w, hgt);
      const img = ctx.getImageData(0, 0, w, hgt);
      return jsQR(img.data, w, hgt, { inversionAttempts: 'dontInvert' })?.data ?? null;
    };
  }

  const tick = async (): Promise<void> => {
    if (stopped) return;
    let text: string | null = null;
    try {
      text = await read();
    } catch {
      text = null; // a frame that cannot be read yet; try the next one
    }
    if (stopped) return;
    if (text !== null && text !== '') {
      stop();
      onCode(text);
      return;
    }
    setTimeout(() => void tick(), 120);
  };
  void tick();
  return { stop };
}
