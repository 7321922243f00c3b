// Starts the ledger service on a port: opens the ledger, builds the app, listens, and closes cleanly on
// SIGINT/SIGTERM (in-flight requests finish; the database is closed after the last one).
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Router } from 'express';
import { openLedger, type Ledger } from './context.js';
import { createApp } from './http/app.js';

/** Parts of the service beyond the log (custody, verify, pages) plug in here with their routers. */
export interface ServiceModule {
  api?: (ledger: Ledger) => Router[];
  root?: (ledger: Ledger) => Router[];
  close?: () => void;
}

export interface ServeOptions {
  db: string;
  port: number;
  host?: string;
  logKey?: string;
  modules?: ServiceModule[];
  maxInFlight?: number;
}

export interface RunningServer {
  url: string;
  port: number;
  ledger: Ledger;
  server: Server;
  close(): Promise<void>;
}

export async function startServer(o: ServeOptions): Promise<RunningServer> {
  const ledger = openLedger({ db: o.db, ...(o.logKey !== undefined ? { logKey: o.logKey } : {}) });
  const modules = o.modules ?? [];
  const app = createApp({
    log: ledger.log,
    apiRouters: modules.flatMap((m) => m.api?.(ledger) ?? []),
    rootRouters: modules.flatMap((m) => m.root?.(ledger) ?? []),
    ...(o.maxInFlight !== undefined ? { maxInFlight: o.maxInFlight } : {}),
  });
  // Sign a checkpoint at start so that GET checkpoint never has to, and keep signing while appends come in.
  ledger.log.signNow();
  const timer = setInterval(() => ledger.log.checkpoint(), 1000);
  timer.unref();
  const host = o.host ?? '127.0.0.1';
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(o.port, host, () => resolve(s));
    s.once('error', reject);
  });
  server.keepAliveTimeout = 65_000;
  const port = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      clearInterval(timer);
      server.close(() => {
        for (const m of modules) m.close?.();
        ledger.close();
        resolve();
      });
      server.closeIdleConnections();
    });
    return closing;
  };
  return { url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`, port, ledger, server, close };
}
