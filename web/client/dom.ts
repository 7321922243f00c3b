// A tiny element builder: text goes in as text nodes (never innerHTML), so nothing from the server or a scanned
// code can become markup. Icons are inline SVG built the same way.

type Child = Node | string | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | boolean | undefined> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'string' ? document.createTextNode(c) : c);
  }
  return el;
}

const SVG = 'http://www.w3.org/2000/svg';

/** An icon drawn from path data, decorative (the text beside it carries the meaning). */
export function icon(name: 'ok' | 'warn' | 'bad', size = 48): SVGSVGElement {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('width', String(size));
  svg.setAttribute('height', String(size));
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('class', `icon icon-${name}`);
  const shapes: Record<typeof name, string[]> = {
    ok: ['M12 1a11 11 0 1 0 0 22 11 11 0 0 0 0-22z', 'M6.5 12.5l3.5 3.5 7.5-8'],
    warn: ['M12 2L1 21h22L12 2z', 'M12 9v5', 'M12 17.5v.5'],
    bad: ['M7.5 1h9L23 7.5v9L16.5 23h-9L1 16.5v-9z', 'M8 8l8 8', 'M16 8l-8 8'],
  };
  shapes[name].forEach((d, i) => {
    const p = document.createElementNS(SVG, 'path');
    p.setAttribute('d', d);
    p.setAttribute('class', i === 0 ? 'icon-shape' : 'icon-mark');
    svg.append(p);
  });
  return svg;
}

export function $(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`missing #${id}`);
  return el;
}
