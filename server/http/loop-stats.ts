// How long the event loop was held, as the server itself sees it (perf_hooks.monitorEventLoopDelay, 1 ms
// resolution): for benchmarks (test/bench/loop.ts), served only when MEDTRAIL_LOOP_STATS=1 at
// GET /debug/loop as {"maxMs","p99Ms","p50Ms","samples"} over the time since the previous read, which it
// resets. Nothing in it is secret, but it is no part of the API: a deployment leaves it off.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { RequestHandler } from 'express';

export interface LoopStats {
  handler: RequestHandler;
  stop(): void;
}

export function loopStats(): LoopStats {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const ms = (ns: number): number => Math.round(ns / 1e4) / 100;
  const handler: RequestHandler = (_req, res) => {
    const out = { maxMs: ms(h.max), p99Ms: ms(h.percentile(99)), p50Ms: ms(h.percentile(50)), samples: h.count };
    h.reset();
    res.json(out);
  };
  return { handler, stop: () => h.disable() };
}
