import type { Knex } from 'knex';
import { migrationsDirectory } from './connection';

export async function migrateToLatest(db: Knex): Promise<string[]> {
  const [, applied] = await db.migrate.latest({ directory: migrationsDirectory, loadExtensions: ['.ts', '.js'] });
  return applied as string[];
}
