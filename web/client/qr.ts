// A QR code drawn as SVG from the module matrix (qrcode's create()), built with DOM calls like every other
// element (web/client/dom.ts): no canvas, no data URL, no markup from a string.
import QRCode from 'qrcode';

const SVG = 'http://www.w3.org/2000/svg';

export function qrSvg(text: string, label: string, px = 240): SVGSVGElement {
  const q = QRCode.create(text, { errorCorrectionLevel: 'M' });
  const n = q.modules.size;
  const m = 2; // quiet zone, in modules
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${n + 2 * m} ${n + 2 * m}`);
  svg.setAttribute('width', String(px));
  svg.setAttribute('height', String(px));
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label);
  svg.setAttribute('class', 'qr');
  const bg = document.createElementNS(SVG, 'rect');
  bg.setAttribute('width', String(n + 2 * m));
  bg.setAttribute('height', String(n + 2 * m));
  bg.setAttribute('fill', '#fff');
  svg.append(bg);
  let d = '';
  for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) if (q.modules.get(r, c) === 1) d += `M${c + m} ${r + m}h1v1h-1z`;
  const path = document.createElementNS(SVG, 'path');
  path.setAttribute('d', d);
  path.setAttribute('fill', '#000');
  svg.append(path);
  return svg;
}
