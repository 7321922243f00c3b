// The requests the patient page's first script sends before the main module runs (patient.ts), and how the
// main module takes them over: each answer once, as {ok, status, text}, or a fresh request when there is none.
export interface EarlyAnswer {
  ok: boolean;
  status: number;
  text: string;
}

export interface EarlyRequests {
  verify: Promise<unknown>;
  maker: Promise<unknown>;
}

/** The early answer for `which`, parsed; throws like api.ts does when it was an error. Null when none was sent. */
export function takeEarly(which: keyof EarlyRequests): Promise<unknown> | null {
  const g = globalThis as { medtrailEarly?: EarlyRequests | null };
  const p = g.medtrailEarly?.[which];
  if (p === undefined) return null;
  delete g.medtrailEarly![which];
  return p.then((a) => {
    const { ok, status, text } = a as EarlyAnswer;
    if (!ok) throw new Error(`HTTP ${status}`);
    return JSON.parse(text) as unknown;
  });
}
