// How long the event loop was held, as the server itself sees it (perf_hooks.monitorEventLoopDelay, 1 ms
// resolution): for benchmarks (test/bench/loop.ts), served only when MEDTRAIL_LOOP_STATS=1 at
// GET /debug/loop as {"maxMs","p99Ms","p50Ms","samples","gcMaxMs","gcMs"} over the time since the previous
// read, which it resets: gcMaxMs is the longest garbage-collection pause seen (perf_hooks 'gc' entries), gcMs
// their sum, so that a benchmark can tell a pause of the collector from code that held the loop. Nothing in it
// is secret, but it is no part of the API: a deployment leaves it off.
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import type { RequestHandler } from 'express';

export interface LoopStats {
  handler: RequestHandler;
  stop(): void;
}

export function loopStats(): LoopStats {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  let gcMax = 0;
  let gcSum = 0;
  const gc = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gcMax = Math.max(gcMax, e.duration);
      gcSum += e.duration;
    }
  });
  gc.observe({ entryTypes: ['gc'] });
  const ms = (ns: number): number => Math.round(ns / 1e4) / 100;
  const round = (x: number): number => Math.round(x * 100) / 100;
  const handler: RequestHandler = (_req, res) => {
    const out = { maxMs: ms(h.max), p99Ms: ms(h.percentile(99)), p50Ms: ms(h.percentile(50)), samples: h.count, gcMaxMs: round(gcMax), gcMs: round(gcSum) };
    h.reset();
    gcMax = 0;
    gcSum = 0;
    res.json(out);
  };
  return {
    handler,
    stop: () => {
      h.disable();
      gc.disconnect();
    },
  };
}
