// `npm start`: the service with demo data (`--demo`); in production, without the flag.
// Without DATABASE_URL it runs on the embedded database in DATA_DIR (server/start.ts).
import type { Server } from 'node:http';
import { createApp } from './app';
import { loadConfig } from './config';
import { logger } from './logger';
import { prepareDemo, startDatabase } from './start';
import { pruneChangeLog } from '../feed/retention';
import { DataDirectoryInUseError } from '../embedded/embeddedDatabase';

async function main() {
  const config = loadConfig();
  const demo = process.argv.includes('--demo') || process.env.DEMO === 'true';
  if (!config.databaseUrl) {
    process.stderr.write(`No DATABASE_URL: starting the embedded PostgreSQL + PostGIS in ${config.embeddedDataDir}` +
      ' (about 10 s the first time)…\n');
  }
  const database = await startDatabase(config, { create: demo });
  const { db } = database;
  if (demo) await prepareDemo(db, config);
  const app = createApp({ db, config, demo, changes: database.changes });
  const server: Server = app.listen(config.port, config.host, () => {
    const url = config.publicUrl ?? `http://localhost:${config.port}`;
    logger.info({ url, demo, database: database.embedded ? 'embedded' : 'server' }, 'minefield-record service listening');
    if (demo) {
      process.stderr.write(`\nService ready at ${url}${database.embedded ? ` (embedded database in ${config.embeddedDataDir})` : ''}\n` +
        `Map: open ${url}/ and choose a demo agency.\n` +
        `Demo token: npm run token -- --agency ANAMA --role editor\n` +
        `Then: curl -H "Authorization: Bearer <token>" ${url}/collections/hazardous-areas/items\n\n`);
    }
  });

  // Prune the change log past its retention hourly (and once at start).
  const prune = () => pruneChangeLog(db, config.feedRetentionDays)
    .then((pruned) => { if (pruned) logger.info({ pruned }, 'change log pruned'); })
    .catch((error) => logger.error({ err: error }, 'change log pruning failed'));
  void prune();
  setInterval(prune, 3_600_000).unref();

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing requests in flight');
    const force = setTimeout(() => {
      logger.error('requests still in flight after the grace period; exiting');
      process.exit(1);
    }, config.shutdownGraceMs);
    force.unref();
    void app.locals.feedStream.close();
    server.close(async () => {
      // The embedded database checkpoints and releases its lock here.
      await database.close();
      logger.info('stopped');
      process.exit(0);
    });
    server.closeIdleConnections();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((error) => {
  if (error instanceof DataDirectoryInUseError) process.stderr.write(`\n${error.message}.\nStop that process, or set DATA_DIR to another directory.\n\n`);
  logger.fatal({ err: error }, 'failed to start');
  process.exit(1);
});
