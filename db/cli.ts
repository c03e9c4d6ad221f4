// `npm run migrate` (up) and `npm run migrate -- down` (roll back the last batch).
import { createKnex, ensureDatabase, migrationsDirectory } from './connection';
import { loadConfig } from '../server/config';

async function main() {
  const config = loadConfig();
  const direction = process.argv[3] ?? process.argv[2];
  await ensureDatabase(config.databaseUrl);
  const db = createKnex(config.databaseUrl, 1);
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
  }
}
main().catch((error) => { console.error(error); process.exit(1); });
