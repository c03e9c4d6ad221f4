// Informant identities: registered and read only by the owner agency's editors.
import express, { Router } from 'express';
import type { Knex } from 'knex';
import { withViewer } from '../../db/viewerTransaction';
import { listInformantCodes, readInformant, registerInformant } from '../../records/informant';
import { compileValidator, informantSchema } from '../../records/schemas';
import { editorOf } from '../auth/middleware';
import { actorOf } from '../auth/viewer';
import type { Config } from '../config';
import { notFound, unprocessable } from '../problem';

const validateInformant = compileValidator(informantSchema, '');
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function informantRoutes(db: Knex, config: Config): Router {
  const router = Router();
  router.post('/informants', express.json({ limit: config.bodyLimit, type: ['application/json', 'application/geo+json'] }), async (req, res) => {
    const viewer = editorOf(req);
    const problems = validateInformant(req.body);
    if (problems.length) throw unprocessable(`${problems[0].field} ${problems[0].reason}`, problems);
    const informant = await withViewer(db, viewer, (trx) => registerInformant(trx, viewer, actorOf(viewer), req.body), 'write');
    res.status(201).json(informant);
  });
  router.get('/informants', async (req, res) => {
    const viewer = editorOf(req);
    res.json({ informants: await withViewer(db, viewer, (trx) => listInformantCodes(trx)) });
  });
  router.get('/informants/:informantId', async (req, res) => {
    const viewer = editorOf(req);
    if (!UUID.test(req.params.informantId)) throw notFound(`no informant "${req.params.informantId}"`);
    res.set('Cache-Control', 'no-store').json(await withViewer(db, viewer, (trx) => readInformant(trx, viewer, req.params.informantId)));
  });
  return router;
}
