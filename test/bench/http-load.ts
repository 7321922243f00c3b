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
  concurrency: number;
  durationMs: number;
}

export interface LoadResult {
  requests: number;
  errors: number;
  seconds: number;
  latenciesMs: number[];
}

async function run(job: LoadJob): Promise<LoadResult> {
  const u = new URL(job.url);
  const agent = new Agent({ keepAlive: true, maxSockets: job.concurrency });
  const latencies: number[] = [];
  let errors = 0;
  let next = 0;
  const start = performance.now();
  const end = start + job.durationMs;
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const body = job.method === 'POST' ? job.bodies[next++ % job.bodies.length]! : undefined;
      const t0 = performance.now();
      const req = request(
        { host: u.hostname, port: u.port, path: job.path, method: job.method, agent, headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
        (res) => {
          res.on('data', () => {});
          res.on('end', () => {
            latencies.push(performance.now() - t0);
            if (res.statusCode !== 200) errors++;
            resolve();
          });
        },
      );
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.end(body);
    });
  const lane = async (): Promise<void> => {
    while (performance.now() < end) await one();
  };
  await Promise.all(Array.from({ length: job.concurrency }, lane));
  agent.destroy();
  return { requests: latencies.length, errors, seconds: (performance.now() - start) / 1000, latenciesMs: latencies };
}

if (parentPort !== null) {
  void run(workerData as LoadJob).then((r) => parentPort!.postMessage(r));
}
