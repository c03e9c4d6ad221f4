// How the live feed learns that a change has committed. The sequencing trigger sends
// NOTIFY minefield_changes with each commit (db/migrations/*_feed.ts); who hears it depends on
// the database:
// - A PostgreSQL server delivers it to every session that LISTENs: one dedicated connection
//   listens (listenSignal), and reconnects if it is lost.
// - The embedded database (PGlite) is one session whose socket writes a notification to the
//   connection that was running when it was sent — the one that committed — not to the
//   listener. So there every pool connection LISTENs and reports what arrives on it
//   (poolSignal, fed by db/connection.ts). As this process holds the data directory's lock,
//   every commit comes through its own pool, and none is missed.
// Either way the feed stream also polls slowly, as a safety net.
import { EventEmitter } from 'node:events';
import pg from 'pg';
import { logger } from '../server/logger';

export const CHANGES_CHANNEL = 'minefield_changes';

export interface ChangeSignal {
  /** Calls `onChange` after commits (possibly once for several); returns the unsubscribe. */
  subscribe(onChange: () => void): () => void;
  close(): Promise<void>;
}

/**
 * A dedicated LISTEN connection to a PostgreSQL server, open while anyone is subscribed: the
 * first subscription opens it, the last unsubscription closes it.
 */
export function listenSignal(databaseUrl: string): ChangeSignal {
  const changes = new EventEmitter();
  changes.setMaxListeners(0);
  let client: pg.Client | undefined;
  let subscribers = 0;
  let retry: NodeJS.Timeout | undefined;

  const disconnect = () => {
    clearTimeout(retry);
    client?.end().catch(() => undefined);
    client = undefined;
  };
  const reconnectSoon = () => {
    clearTimeout(retry);
    if (subscribers > 0) retry = setTimeout(() => void connect(), 1000).unref();
  };
  const connect = async (): Promise<void> => {
    if (client || subscribers === 0) return;
    const connection = new pg.Client({ connectionString: databaseUrl, application_name: 'minefield-records feed' });
    client = connection;
    connection.on('notification', () => changes.emit('change'));
    connection.on('error', (error) => {
      logger.warn({ err: error }, 'feed listener lost its connection; polling until it is back');
      if (client === connection) client = undefined;
      connection.end().catch(() => undefined);
      reconnectSoon();
    });
    try {
      await connection.connect();
      await connection.query(`LISTEN ${CHANGES_CHANNEL}`);
    } catch (error) {
      if (client !== connection) return; // closed meanwhile
      client = undefined;
      connection.end().catch(() => undefined);
      logger.warn({ err: error }, 'feed listener could not connect; polling until it can');
      reconnectSoon();
    }
  };

  return {
    subscribe(onChange) {
      subscribers++;
      changes.on('change', onChange);
      void connect();
      let subscribed = true;
      return () => {
        if (!subscribed) return;
        subscribed = false;
        changes.off('change', onChange);
        if (--subscribers === 0) disconnect();
      };
    },
    async close() {
      subscribers = 0;
      changes.removeAllListeners();
      const open = client;
      disconnect();
      await open?.end().catch(() => undefined);
    },
  };
}

/** The notifications that arrive on the pool's own connections (see above): `notify` feeds it. */
export function poolSignal(): ChangeSignal & { notify(): void } {
  const changes = new EventEmitter();
  changes.setMaxListeners(0);
  return {
    notify: () => changes.emit('change'),
    subscribe(onChange) {
      changes.on('change', onChange);
      return () => changes.off('change', onChange);
    },
    async close() {
      changes.removeAllListeners();
    },
  };
}
