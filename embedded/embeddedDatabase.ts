// An embedded PostgreSQL with PostGIS (PGlite) for running without DATABASE_URL.
//
// PGlite runs in a worker thread (embedded/worker.ts) and is reached through pglite-socket on
// 127.0.0.1, so the service's knex/pg code is unchanged. What differs from a server:
// - It is ONE PostgreSQL session. Transactions from different connections run one after
//   another; a session-level SET would reach every connection (ours are transaction-local).
//   Use a pool of EMBEDDED_POOL_SIZE (1) connection: more buys nothing and breaks. pglite-socket
//   queues each protocol message on its own, so outside a transaction another connection's
//   Parse/Bind/Execute/Sync lands in the middle of one's extended-protocol query; measured with
//   a pool of 4 and concurrent parameterised queries: "Received unexpected commandComplete
//   message from backend", then hung connections. With a pool of 1 the same load is correct.
// - NOTIFY is written to whichever connection is running at that moment, not to the listener.
// - Nothing in PGlite stops two processes opening one directory (which loses data), so the
//   directory is locked here first (embedded/dataDirLock.ts).
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { lockDataDirectory } from './dataDirLock';
import type { WorkerOptions, WorkerReply } from './worker';

export { DataDirectoryInUseError } from './dataDirLock';

/** The knex pool size to use against the embedded database (see above). */
export const EMBEDDED_POOL_SIZE = 1;

export interface EmbeddedDatabase {
  /** postgres://postgres@127.0.0.1:<port>/postgres */
  url: string;
  port: number;
  /** True when this start initialised the data directory (initdb + CREATE EXTENSION postgis). */
  created: boolean;
  timings: { openMs: number; extensionMs: number; totalMs: number };
  /** Closes the database cleanly (checkpoint), ends the worker and releases the lock. Idempotent. */
  stop(): Promise<void>;
}

export interface EmbeddedDatabaseOptions {
  /**
   * Client connections the socket server accepts at once (default 2: the knex pool's one and
   * the feed's LISTEN connection). They share the one session, and any connection beyond the
   * pool's one can interleave with it as described above: keep other clients off it.
   */
  maxConnections?: number;
  /** How long to wait for the database to open (a fresh directory runs initdb). */
  startTimeoutMs?: number;
}

/**
 * The worker: compiled JavaScript next to this file in production (dist/embedded/worker.js);
 * under tsx in development the TypeScript source, through tsx's CommonJS hook. (Node 20 does
 * not apply `execArgv: ['--import', 'tsx']` to a worker's .ts entry point: it fails with
 * "Unknown file extension .ts", so the worker is started from a two-line eval instead.)
 */
function spawnWorker(options: WorkerOptions): Worker {
  const compiled = path.join(__dirname, 'worker.js');
  if (fs.existsSync(compiled)) return new Worker(compiled, { workerData: options });
  const source = path.join(__dirname, 'worker.ts');
  const tsxHook = require.resolve('tsx/cjs');
  return new Worker(`require(${JSON.stringify(tsxHook)}); require(${JSON.stringify(source)});`, {
    eval: true, workerData: options,
  });
}

export async function startEmbeddedDatabase(dataDir: string, options: EmbeddedDatabaseOptions = {}): Promise<EmbeddedDatabase> {
  const started = Date.now();
  const directory = path.resolve(dataDir);
  const lock = await lockDataDirectory(directory);
  let worker: Worker;
  try {
    worker = spawnWorker({ dataDir: directory, maxConnections: options.maxConnections ?? 2 });
  } catch (error) {
    lock.release();
    throw error;
  }

  let exited = false;
  const exit = new Promise<void>((resolve) => worker.once('exit', () => {
    exited = true;
    lock.release(); // the database is closed once its thread is gone, however it ended
    resolve();
  }));

  let ready: Extract<WorkerReply, { type: 'ready' }>;
  try {
    ready = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the embedded database did not open within ${options.startTimeoutMs ?? 120_000} ms`)),
        options.startTimeoutMs ?? 120_000);
      const settle = (fn: () => void) => { clearTimeout(timer); worker.off('message', onMessage); fn(); };
      const onMessage = (message: WorkerReply) => {
        if (message.type === 'ready') settle(() => resolve(message));
        else if (message.type === 'error') {
          settle(() => reject(Object.assign(new Error(`the embedded database could not start: ${message.message}`), { workerStack: message.stack })));
        }
      };
      worker.on('message', onMessage);
      worker.once('error', (error) => settle(() => reject(error)));
      void exit.then(() => settle(() => reject(new Error('the embedded database worker exited while starting'))));
    });
  } catch (error) {
    await worker.terminate();
    await exit;
    throw error;
  }
  // After start, a crash of the worker must not take the service down with an unhandled error.
  worker.on('error', (error) => process.emitWarning(`embedded database worker failed: ${error.message}`));

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (exited) return;
      const stopped = new Promise<void>((resolve) => {
        worker.on('message', (message: WorkerReply) => { if (message.type === 'stopped') resolve(); });
        void exit.then(resolve);
      });
      worker.postMessage({ type: 'stop' });
      const timeout = new Promise<'timeout'>((resolve) => setTimeout(resolve, 30_000, 'timeout').unref());
      if (await Promise.race([stopped, timeout]) === 'timeout') process.emitWarning('embedded database did not close within 30 s; terminating');
      await worker.terminate();
      await exit;
    })();
    return stopping;
  };

  return {
    url: `postgres://postgres@127.0.0.1:${ready.port}/postgres`,
    port: ready.port,
    created: ready.created,
    timings: { openMs: ready.openMs, extensionMs: ready.extensionMs, totalMs: Date.now() - started },
    stop,
  };
}
