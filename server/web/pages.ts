// The pages: the patient's page at the GS1 Digital Link paths (and at / and /check, to scan or type a code),
// the staff console at /console, the patient's prescription page at /rx/<id>. Each is a small HTML shell that loads the hashed bundle; the log's verifier
// key is pinned into the patient page here, at serve time, so the page checks checkpoints against the key
// the server was started with rather than one it fetches later. Strict CSP: scripts and styles from this
// origin only, no inline script, no other origin at all.
import { gzipSync } from 'node:zlib';
import { Router, type Request, type Response } from 'express';
import type { Assets } from './assets.js';

export const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "media-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

interface Shell {
  entry: 'patient' | 'console' | 'rx';
  title: string;
  meta: Record<string, string>;
  body: string;
}

function html(assets: Assets, s: Shell): string {
  const e = assets.entry(s.entry);
  const style = assets.entry('style');
  const metas = Object.entries(s.meta).map(([k, v]) => `<meta name="${esc(k)}" content="${esc(v)}">`).join('');
  const preload = e.preload.map((f) => `<link rel="modulepreload" href="/assets/${esc(f)}">`).join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">${metas}<title>${esc(s.title)}</title><link rel="stylesheet" href="/assets/${esc(style.file)}">${preload}<script type="module" src="/assets/${esc(e.file)}"></script></head><body><main id="app"${s.entry === 'console' ? ' class="console"' : ''}>${s.body}</main></body></html>`;
}

function send(req: Request, res: Response, page: { raw: Buffer; gz: Buffer }): void {
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Content-Security-Policy', CSP);
  res.setHeader('Permissions-Policy', 'camera=(self), microphone=(), geolocation=()');
  res.setHeader('Cache-Control', 'no-cache');
  res.setHeader('Vary', 'Accept-Encoding');
  if (/\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) {
    res.setHeader('Content-Encoding', 'gzip');
    res.end(page.gz);
  } else {
    res.end(page.raw);
  }
}

export function pageRouter(assets: Assets, logVerifierKey: string, policyText?: string, maxAgeS?: number): Router {
  // The witness policy the page holds checkpoints to (base64 of the c2sp.org/tlog-policy text), when there is one.
  const policy: Record<string, string> = policyText === undefined ? {} : { 'medtrail-policy': Buffer.from(policyText, 'utf8').toString('base64'), 'medtrail-max-age': String(maxAgeS ?? 600) };
  // Built on first use (the assets may be built after the server started) and kept: the shells never change.
  const built = new Map<string, { raw: Buffer; gz: Buffer }>();
  const page = (s: Shell): { raw: Buffer; gz: Buffer } => {
    let p = built.get(s.entry);
    if (p === undefined) {
      const raw = Buffer.from(html(assets, s));
      p = { raw, gz: gzipSync(raw, { level: 9 }) };
      built.set(s.entry, p);
    }
    return p;
  };
  const patient: Shell = {
    entry: 'patient',
    title: 'Is my medicine genuine? — medtrail',
    meta: { 'medtrail-log-key': logVerifierKey, ...policy },
    body: '<h1>Is my medicine genuine?</h1><noscript><p>This page checks the evidence on your device and needs JavaScript.</p></noscript>',
  };
  const consoleShell: Shell = {
    entry: 'console',
    title: 'medtrail console',
    meta: { 'medtrail-log-key': logVerifierKey },
    body: '<h1>medtrail console</h1><noscript><p>The console signs in your browser and needs JavaScript.</p></noscript>',
  };

  // The patient's prescription page (issue 16): the token's link /rx/<id>#ac=<code>; the code stays in the fragment.
  const rxShell: Shell = {
    entry: 'rx',
    title: 'Your prescription — medtrail',
    meta: { 'medtrail-log-key': logVerifierKey },
    body: '<h1>Your prescription</h1><noscript><p>This page checks your prescription on your device and needs JavaScript.</p></noscript>',
  };

  const r = Router();
  // The fragment (#ac=...) is not sent, but a Referer would carry the path: none leaves the page.
  r.get(['/rx', '/rx/:id'], (req, res) => {
    res.setHeader('Referrer-Policy', 'no-referrer');
    send(req, res, page(rxShell));
  });
  const showPatient = (req: Request, res: Response): void => send(req, res, page(patient));
  // GS1 Digital Link: qualifiers after the GTIN in the order 22, 10, 21; any may be left out, none reordered.
  // The page itself parses and validates the whole URI (core/gs1/digital-link.ts) and says so if it is malformed.
  for (const path of [
    '/01/:gtin/21/:serial',
    '/01/:gtin/10/:lot/21/:serial',
    '/01/:gtin/22/:cpv/21/:serial',
    '/01/:gtin/22/:cpv/10/:lot/21/:serial',
  ]) {
    r.get(path, showPatient);
  }
  r.get(['/', '/check'], showPatient);
  r.get('/console', (req, res) => send(req, res, page(consoleShell)));
  return r;
}
