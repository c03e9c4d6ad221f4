// Start-up shared by `npm start`, the tests and the benches: the database (a PostgreSQL server,
// or the embedded one when no DATABASE_URL is set), the schema, demo keys and data.
import type { Knex } from 'knex';
import { createKnex, ensureDatabase } from '../db/connection';
import { migrateToLatest } from '../db/migrate';
import { EMBEDDED_POOL_SIZE, startEmbeddedDatabase, type EmbeddedDatabase, type EmbeddedDatabaseOptions } from '../embedded/embeddedDatabase';
import { CHANGES_CHANNEL, listenSignal, poolSignal, type ChangeSignal } from '../feed/changeSignal';
import type { Config } from './config';
import { ensureDemoKeys } from './auth/demoKeys';
import { logger } from './logger';
import { loadDemoData } from '../fixtures/loadDemo';

/** The database the service runs on, whichever kind it is. */
export interface ServiceDatabase {
  db: Knex;
  /** postgres:// URL of the server, or of the embedded database's socket. */
  url: string;
  /** Set when running on the embedded database. */
  embedded?: EmbeddedDatabase;
  /** How the live feed hears of commits on this kind of database. */
  changes: ChangeSignal;
  /** Closes the pool, and the embedded database if there is one. */
  close(): Promise<void>;
}

async function migrate(db: Knex): Promise<void> {
  const applied = await migrateToLatest(db);
  if (applied.length) logger.info({ applied }, 'migrations applied');
}

/** A PostgreSQL server at a URL: created (database and PostGIS) when asked, and migrated. */
export async function openDatabase(config: Config & { databaseUrl: string }, options: { create: boolean }): Promise<Knex> {
  if (options.create) await ensureDatabase(config.databaseUrl);
  const db = createKnex(config.databaseUrl);
  await migrate(db);
  return db;
}

/** The embedded database in `dataDir`: started (locked, initialised on first use) and migrated. */
export async function openEmbeddedDatabase(dataDir: string, options: EmbeddedDatabaseOptions = {}): Promise<ServiceDatabase> {
  const embedded = await startEmbeddedDatabase(dataDir, options);
  logger.info({ dataDir, created: embedded.created, timings: embedded.timings }, 'embedded database started');
  const changes = poolSignal();
  const db = createKnex(embedded.url, EMBEDDED_POOL_SIZE, { channel: CHANGES_CHANNEL, onNotification: changes.notify });
  try {
    await migrate(db);
  } catch (error) {
    await db.destroy();
    await embedded.stop();
    throw error;
  }
  return {
    db, url: embedded.url, embedded, changes,
    close: async () => {
      await changes.close();
      await db.destroy();
      await embedded.stop();
    },
  };
}

/** The service's database as configured: the server at DATABASE_URL, or the embedded one. */
export async function startDatabase(config: Config, options: { create: boolean }): Promise<ServiceDatabase> {
  if (!config.databaseUrl) return openEmbeddedDatabase(config.embeddedDataDir);
  const url = config.databaseUrl;
  const db = await openDatabase({ ...config, databaseUrl: url }, options);
  const changes = listenSignal(url);
  return { db, url, changes, close: async () => { await changes.close(); await db.destroy(); } };
}

export async function prepareDemo(db: Knex, config: Config): Promise<void> {
  await ensureDemoKeys(db, config.dataDir);
  await loadDemoData(db);
}
