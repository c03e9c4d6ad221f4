// Liveness and readiness for orchestrators.
import { Router } from 'express';
import type { Knex } from 'knex';
import { migrationsDirectory } from '../../db/connection';

export function operationsRoutes(db: Knex): Router {
  const router = Router();
  router.get('/health', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/ready', async (_req, res) => {
    try {
      await db.raw('SELECT 1');
      const pending = (await db.migrate.list({ directory: migrationsDirectory, loadExtensions: ['.ts', '.js'] }))[1] as unknown[];
      if (pending.length > 0) {
        res.status(503).type('application/problem+json').send(JSON.stringify({ title: 'Not ready', status: 503, detail: `${pending.length} migration(s) pending` }));
        return;
      }
      res.json({ status: 'ready' });
    } catch (error) {
      res.status(503).type('application/problem+json').send(JSON.stringify({ title: 'Not ready', status: 503, detail: `database unreachable: ${(error as Error).message}` }));
    }
  });
  return router;
}
