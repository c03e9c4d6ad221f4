// `npm run migrate` (up) and `npm run migrate -- down` (roll back the last batch), on the
// database at DATABASE_URL or, without one, on the embedded database.
import { createKnex, ensureDatabase, migrationsDirectory } from './connection';
import { EMBEDDED_POOL_SIZE, startEmbeddedDatabase } from '../embedded/embeddedDatabase';
import { loadConfig } from '../server/config';

async function main() {
  const config = loadConfig();
  const direction = process.argv[3] ?? process.argv[2];
  const embedded = config.databaseUrl ? undefined : await startEmbeddedDatabase(config.embeddedDataDir);
  if (config.databaseUrl) await ensureDatabase(config.databaseUrl);
  const db = createKnex(config.databaseUrl ?? embedded!.url, embedded ? EMBEDDED_POOL_SIZE : 1);
  try {
    if (direction === 'down') {
      const [, undone] = await db.migrate.rollback({ directory: migrationsDirectory, loadExtensions: ['.ts', '.js'] });
      console.log(`rolled back: ${undone.join(', ') || 'nothing'}`);
    } else {
      const [, applied] = await db.migrate.latest({ directory: migrationsDirectory, loadExtensions: ['.ts', '.js'] });
      console.log(`applied: ${applied.join(', ') || 'nothing (up to date)'}`);
    }
  } finally {
    await db.destroy();
    await embedded?.stop();
  }
}
main().catch((error) => { console.error(error); process.exit(1); });
