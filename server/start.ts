// Start-up shared by `npm start` and the tests: database, schema, demo keys and data.
import type { Knex } from 'knex';
import { createKnex, ensureDatabase } from '../db/connection';
import { migrateToLatest } from '../db/migrate';
import type { Config } from './config';
import { ensureDemoKeys } from './auth/demoKeys';
import { logger } from './logger';
import { loadDemoData } from '../fixtures/loadDemo';

export async function openDatabase(config: Config, options: { create: boolean }): Promise<Knex> {
  if (options.create) await ensureDatabase(config.databaseUrl);
  const db = createKnex(config.databaseUrl);
  const applied = await migrateToLatest(db);
  if (applied.length) logger.info({ applied }, 'migrations applied');
  return db;
}

export async function prepareDemo(db: Knex, config: Config): Promise<void> {
  await ensureDemoKeys(db, config.dataDir);
  await loadDemoData(db);
}
