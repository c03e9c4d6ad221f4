// `npm start`: the service with demo data (`--demo`); in production, without the flag.
import type { Server } from 'node:http';
import { createApp } from './app';
import { loadConfig } from './config';
import { logger } from './logger';
import { openDatabase, prepareDemo } from './start';
import { pruneChangeLog } from '../feed/retention';

async function main() {
  const config = loadConfig();
  const demo = process.argv.includes('--demo') || process.env.DEMO === 'true';
  const db = await openDatabase(config, { create: demo });
  if (demo) await prepareDemo(db, config);
  const app = createApp({ db, config, demo });
  const server: Server = app.listen(config.port, config.host, () => {
    const url = config.publicUrl ?? `http://localhost:${config.port}`;
    logger.info({ url, demo }, 'minefield-record service listening');
    if (demo) {
      process.stderr.write(`\nService ready at ${url}\nDemo token: npm run token -- --agency ANAMA --role editor\n` +
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
      await db.destroy();
      logger.info('stopped');
      process.exit(0);
    });
    server.closeIdleConnections();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((error) => {
  logger.fatal({ err: error }, 'failed to start');
  process.exit(1);
});
