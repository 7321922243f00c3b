// New connections must not wait behind connected clients. libuv (from 1.45, PR #3696 "unix: don't accept()
// connections in a loop") accepts ONE connection per turn of the event loop. While hundreds of keep-alive
// clients keep every turn ~100 ms long, a burst of new connections is taken ten a second: the kernel has
// completed their handshakes and holds their requests, and the last of them waited 4-9 s before the server
// even read it (bench:load's overload phase; issue 12, "1,000+ new connections at once"), while the connected
// clients were answered in ms.
//
// The watch: a timer that runs every PROBE_MS runs once a turn when turns are long. A connection accepted in
// each of STARVED_TURNS long turns in a row means a queue of connections is waiting. Then the connected
// clients' sockets stop being read (their handle's readStop(): libuv stops polling them, their requests wait
// in the kernel, nothing is refused; socket.pause() would not do it, node's HTTP parser reads the handle
// itself), turns take microseconds, and the queue is accepted at one connection a turn in a few ms. Each connection accepted meanwhile has its first request read and answered, then waits too. Once
// a probe sees no new connection (the queue is empty), or after DRAIN_MS at most, every socket is read again.
import type { Socket } from 'node:net';

const PROBE_MS = 10;
/** A turn of the event loop at least this long (between two runs of the probe) is a long turn. */
const LONG_TURN_MS = 20;
/** Long turns in a row, each of which accepted a connection, that mean connections are queueing. */
const STARVED_TURNS = 2;
/** The longest the connected clients' sockets are left unread while the queue is accepted. */
const DRAIN_MS = 200;

/** The libuv stream under a net.Socket (not in node's typings): what stops and restarts its reads. */
interface StreamHandle {
  readStop(): number;
  readStart(): number;
}

function handleOf(s: Socket): StreamHandle | undefined {
  const h: unknown = Reflect.get(s, '_handle');
  if (typeof h !== 'object' || h === null) return undefined;
  const stop: unknown = Reflect.get(h, 'readStop');
  const start: unknown = Reflect.get(h, 'readStart');
  if (typeof stop !== 'function' || typeof start !== 'function') return undefined;
  return { readStop: () => Number(stop.call(h)), readStart: () => Number(start.call(h)) };
}

export interface AcceptWatch {
  /** The HTTP server accepted this connection ('connection' event). */
  accepted(socket: Socket): void;
  /** A request on this socket was taken (a connection accepted while draining is paused after its first). */
  admitted(socket: Socket): void;
  /** Connected clients are not being read for a moment while queued connections are accepted. */
  draining(): boolean;
  stop(): void;
}

export function acceptWatch(): AcceptWatch {
  const open = new Set<Socket>();
  const paused = new Map<Socket, StreamHandle>();
  // Connections accepted while draining whose first request has not been taken yet.
  let fresh = new WeakSet<Socket>();
  let acceptedSinceProbe = 0;
  let longTurns = 0;
  let lastProbe = performance.now();
  let drainUntil = 0;
  const pause = (s: Socket): void => {
    const h = s.destroyed || paused.has(s) ? undefined : handleOf(s);
    if (h !== undefined && h.readStop() === 0) paused.set(s, h);
  };
  const resumeAll = (): void => {
    drainUntil = 0;
    for (const [s, h] of paused) if (!s.destroyed) h.readStart();
    paused.clear();
  };
  const probe = setInterval(() => {
    const now = performance.now();
    if (drainUntil > 0) {
      // Turns are short while draining: an interval that accepted nothing means the queue is empty.
      if (acceptedSinceProbe === 0 || now >= drainUntil) resumeAll();
    } else {
      longTurns = acceptedSinceProbe > 0 && now - lastProbe >= LONG_TURN_MS ? longTurns + 1 : 0;
      if (longTurns >= STARVED_TURNS) {
        longTurns = 0;
        drainUntil = now + DRAIN_MS;
        fresh = new WeakSet();
        for (const s of open) pause(s);
      }
    }
    acceptedSinceProbe = 0;
    lastProbe = now;
  }, PROBE_MS);
  probe.unref();
  return {
    accepted: (s) => {
      acceptedSinceProbe++;
      open.add(s);
      s.once('close', () => {
        open.delete(s);
        paused.delete(s);
      });
      if (drainUntil > 0) fresh.add(s);
    },
    admitted: (s) => {
      if (drainUntil > 0 && fresh.delete(s)) pause(s);
    },
    draining: () => drainUntil > 0,
    stop: () => {
      clearInterval(probe);
      resumeAll();
    },
  };
}
