// The patient page's first script: tiny, with no imports, so that it runs as soon as it arrives and sends the
// two requests the verdict needs (the verify answer and the manufacturer's key evidence) before the bigger
// module that checks them (patient-main.ts, preloaded beside this one) has even been evaluated.
import type { EarlyRequests } from './early.js';

function early(): EarlyRequests | null {
  const m = /^\/01\/(\d{14})\/.*?\b21\/([^/]+)$/.exec(location.pathname);
  if (m === null) return null;
  let serial: string;
  try {
    serial = encodeURIComponent(decodeURIComponent(m[2]!)); // a path segment's `+` is a plus; in a query it would be a space
  } catch {
    return null; // malformed: the main module says so
  }
  const json = (r: Response): Promise<unknown> => r.text().then((t) => ({ ok: r.ok, status: r.status, text: t }));
  return {
    verify: fetch('/api/v1/verify', { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify({ code: location.href }), credentials: 'omit', cache: 'no-store' }).then(json),
    maker: fetch(`/api/v1/products/${m[1]!}/maker-key?serial=${serial}`, { headers: { accept: 'application/json' }, credentials: 'omit', cache: 'no-store' }).then(json),
  };
}

(globalThis as { medtrailEarly?: EarlyRequests | null }).medtrailEarly = early();
void import('./patient-main.js');
