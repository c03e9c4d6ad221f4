// The embedded PostgreSQL (PGlite + PostGIS) in a worker thread, reached over the PostgreSQL
// wire protocol through pglite-socket on 127.0.0.1, so knex's ordinary pg client works
// unchanged. PGlite runs WebAssembly on the thread that calls it (a long query blocks that
// thread), which is why it lives here and not on the service's event loop.
//
// Started only by embedded/embeddedDatabase.ts, which holds the data directory's lock first.
// Messages: in workerData {dataDir, maxConnections}; out {type:'ready', port, created, timings}
// or {type:'error', message}; in {type:'stop'} → out {type:'stopped'}, then the thread ends.
import fs from 'node:fs';
import path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import { postgis } from '@electric-sql/pglite-postgis';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { answerExtendedQueryErrorsLikePostgres } from './extendedQueryErrors';

export interface WorkerOptions {
  dataDir: string;
  maxConnections: number;
}

export type WorkerReply =
  | { type: 'ready'; port: number; created: boolean; openMs: number; extensionMs: number }
  | { type: 'error'; message: string; stack?: string }
  | { type: 'stopped' };

async function run(port: NonNullable<typeof parentPort>, options: WorkerOptions): Promise<void> {
  // A cluster already initialised has PG_VERSION; PGlite runs initdb otherwise.
  const created = !fs.existsSync(path.join(options.dataDir, 'PG_VERSION'));
  let started = Date.now();
  const db = await PGlite.create({ dataDir: options.dataDir, extensions: { postgis } });
  const openMs = Date.now() - started;
  started = Date.now();
  // First start: the extension the schema needs (db/connection.ts ensureDatabase does the same
  // for a server). IF NOT EXISTS makes it a cheap catalogue look-up on every later start.
  await db.exec('CREATE EXTENSION IF NOT EXISTS postgis');
  const extensionMs = Date.now() - started;

  // Several client connections are accepted (the pool and the feed's listener), but PGlite is
  // one session: pglite-socket runs one message at a time and, while a transaction is open,
  // only the messages of the connection that opened it.
  answerExtendedQueryErrorsLikePostgres(db);
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: options.maxConnections });
  await server.start();
  const listening = Number(server.getServerConn().split(':').pop());

  let stopping = false;
  port.on('message', (message: { type?: string }) => {
    if (message?.type !== 'stop' || stopping) return;
    stopping = true;
    void (async () => {
      try {
        await server.stop();
        // close() checkpoints and shuts the backend down cleanly: the next start needs no recovery.
        await db.close();
      } finally {
        port.postMessage({ type: 'stopped' } satisfies WorkerReply);
        port.close();
      }
    })();
  });
  port.postMessage({ type: 'ready', port: listening, created, openMs, extensionMs } satisfies WorkerReply);
}

if (parentPort) {
  const port = parentPort;
  run(port, workerData as WorkerOptions).catch((error: unknown) => {
    const err = error instanceof Error ? error : new Error(String(error));
    port.postMessage({ type: 'error', message: err.message, stack: err.stack } satisfies WorkerReply);
    port.close();
  });
}
