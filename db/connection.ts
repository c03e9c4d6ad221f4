import knexFactory, { Knex } from 'knex';
import path from 'node:path';
import pg from 'pg';

// Dates stay 'YYYY-MM-DD' strings: a JS Date would shift them by the server's time zone.
pg.types.setTypeParser(pg.types.builtins.DATE, (value: string) => value);
// bigint counts (e.g. count(*)) fit comfortably in a double for this data.
pg.types.setTypeParser(pg.types.builtins.INT8, (value: string) => Number(value));

export const migrationsDirectory = path.join(__dirname, 'migrations');

export interface PoolNotifications {
  channel: string;
  /** Called for every notification on the channel that arrives on one of the pool's connections. */
  onNotification: () => void;
}

/**
 * A knex pool. With `notifications`, each of its connections LISTENs on the channel and
 * reports what arrives on it: the embedded database's socket hands a notification to the
 * connection that committed (feed/changeSignal.ts), which is always one of the pool's.
 */
export function createKnex(databaseUrl: string, poolMax = 10, notifications?: PoolNotifications): Knex {
  const afterCreate = notifications && ((connection: pg.Client, done: (error: Error | null, connection: pg.Client) => void) => {
    connection.on('notification', (message) => { if (message.channel === notifications.channel) notifications.onNotification(); });
    // A channel name is an identifier and cannot be bound; it is a constant of ours, quoted.
    connection.query(`LISTEN ${connection.escapeIdentifier(notifications.channel)}`)
      .then(() => done(null, connection), (error: Error) => done(error, connection));
  });
  return knexFactory({
    client: 'pg',
    connection: { connectionString: databaseUrl, application_name: 'minefield-records' },
    pool: { min: 0, max: poolMax, ...(afterCreate ? { afterCreate } : {}) },
    migrations: { directory: migrationsDirectory, loadExtensions: ['.ts', '.js'], tableName: 'knex_migrations' },
  });
}

/**
 * Creates the database named in the URL when it does not exist yet (local demo and tests),
 * and the PostGIS extension in it. Production databases are made by their operators; this
 * only needs CREATEDB rights where it actually creates something.
 */
export async function ensureDatabase(databaseUrl: string): Promise<void> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ''));
  const adminUrl = new URL(databaseUrl);
  adminUrl.pathname = '/postgres';
  const admin = new pg.Client({ connectionString: adminUrl.toString() });
  await admin.connect();
  try {
    const found = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount === 0) {
      // Identifiers cannot be bound parameters; the driver quotes it.
      await admin.query('CREATE DATABASE ' + admin.escapeIdentifier(name));
    }
  } finally {
    await admin.end();
  }
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    await db.query('CREATE EXTENSION IF NOT EXISTS postgis');
  } finally {
    await db.end();
  }
}
