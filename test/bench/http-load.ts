// A worker thread that loads an HTTP server over keep-alive connections and reports latencies: the load
// generator of test/bench/profile-verify.ts, on its own thread so that it does not share the server's event loop.
import { Agent, request } from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';

export interface LoadJob {
  url: string;
  method: 'GET' | 'POST';
  path: string;
  /** Request bodies, used round-robin (POST). */
  bodies: string[];
  /** Closed loop: this many requests in flight at all times. Open loop (ratePerSec set): at most this many. */
  concurrency: number;
  durationMs: number;
  /**
   * Open loop: requests start on a fixed schedule, this many per second, whether or not earlier ones have
   * been answered (a latency figure at a given load, not at saturation). Each latency is counted from when
   * the request was written, not from its slot in the schedule: on a 2-core machine the load generator's own
   * lateness (a timer firing a few ms late bunches starts) is not the server's.
   */
  ratePerSec?: number;
  /** Closed loop: a lane answered 503 waits its Retry-After before the next request, as a well-behaved client does. */
  honourRetryAfter?: boolean;
}

export interface LoadResult {
  requests: number;
  errors: number;
  seconds: number;
  latenciesMs: number[];
}

async function run(job: LoadJob): Promise<LoadResult> {
  const u = new URL(job.url);
  // Every lane keeps its connection while it waits (the default keeps only 256 idle sockets and closes the rest).
  const agent = new Agent({ keepAlive: true, maxSockets: job.concurrency, maxFreeSockets: job.concurrency });
  const latencies: number[] = [];
  let errors = 0;
  let next = 0;
  const start = performance.now();
  const end = start + job.durationMs;
  const one = (): Promise<void> =>
    new Promise<number>((resolve) => {
      const body = job.method === 'POST' ? job.bodies[next++ % job.bodies.length]! : undefined;
      const t0 = performance.now();
      const req = request(
        { host: u.hostname, port: u.port, path: job.path, method: job.method, agent, headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
        (res) => {
          res.on('data', () => {});
          res.on('end', () => {
            latencies.push(performance.now() - t0);
            if (res.statusCode !== 200) errors++;
            resolve(res.statusCode === 503 && job.honourRetryAfter === true ? Number(res.headers['retry-after'] ?? 1) * 1000 : 0);
          });
        },
      );
      req.on('error', () => {
        errors++;
        resolve(0);
      });
      req.end(body);
    }).then((wait) => (wait > 0 ? new Promise((r) => setTimeout(r, wait)) : undefined));
  const lane = async (): Promise<void> => {
    while (performance.now() < end) await one();
  };
  if (job.ratePerSec === undefined) await Promise.all(Array.from({ length: job.concurrency }, lane));
  else await openLoop(job.ratePerSec, end, one);
  agent.destroy();
  return { requests: latencies.length, errors, seconds: (performance.now() - start) / 1000, latenciesMs: latencies };
}

/** Starts one() at `rate` per second until `end`, then waits for the answers. */
async function openLoop(rate: number, end: number, one: () => Promise<void>): Promise<void> {
  const gap = 1000 / rate;
  const inFlight: Promise<void>[] = [];
  let due = performance.now();
  while (due < end) {
    // Start every request whose time has come; then sleep until the next one is due (setTimeout's ~1 ms
    // granularity bunches starts a little, it does not lose them).
    while (due <= performance.now() && due < end) {
      inFlight.push(one());
      due += gap;
    }
    await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
  }
  await Promise.all(inFlight);
}

if (parentPort !== null) {
  void run(workerData as LoadJob).then((r) => parentPort!.postMessage(r));
}
