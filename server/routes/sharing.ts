// Sharing agreements, public statistics and the audit trail.
import express, { Router } from 'express';
import type { Knex } from 'knex';
import { withViewer } from '../../db/viewerTransaction';
import { listAgreements, setAgreement } from '../../access/agreements';
import { readAuditTrail } from '../../access/auditTrail';
import { hazardStatistics } from '../../access/statistics';
import { requireViewer } from '../auth/middleware';
import type { Config } from '../config';
import { etagOf } from '../etag';
import type { TileService } from '../../tiles/tileService';
import { badRequest, forbidden, unauthorized } from '../problem';

export function sharingRoutes(db: Knex, config: Config, tiles: TileService): Router {
  const router = Router();

  router.get('/sharing/agreements', requireViewer, async (req, res) => {
    res.json({ agreements: await withViewer(db, req.viewer, listAgreements) });
  });

  router.put('/sharing/agreements/:grantee/:recordKind', express.json({ limit: config.bodyLimit }), async (req, res) => {
    if (!req.viewer) throw unauthorized('this resource needs a bearer token of an agency');
    const viewer = req.viewer;
    const header = req.get('if-match');
    const version = header === undefined ? undefined : Number(header.replace(/^W\//, '').replace(/"/g, ''));
    if (version !== undefined && !Number.isInteger(version)) throw badRequest('If-Match must be the agreement ETag, e.g. "3"');
    const agreement = await withViewer(db, viewer, (trx) => setAgreement(trx, viewer, {
      grantee: req.params.grantee, recordKind: req.params.recordKind, level: req.body?.level, comment: req.body?.comment, ifMatchVersion: version,
    }), 'write');
    tiles.agreementChanged(agreement.grantee);
    res.set('ETag', etagOf(agreement.version)).json(agreement);
  });

  // Without a token this is the public view: only what owners shared with the public.
  router.get('/statistics/hazardous-areas', async (req, res) => {
    res.set('Cache-Control', 'no-store').json({ figures: await withViewer(db, req.viewer, hazardStatistics) });
  });

  router.get('/audit', requireViewer, async (req, res) => {
    const viewer = req.viewer!;
    if (viewer.role !== 'editor' && viewer.role !== 'admin') throw forbidden(`the audit trail of ${viewer.agency} is for its editors and admins`);
    const after = Number(req.query.after ?? 0);
    const limit = Math.min(Number(req.query.limit ?? 100), 1000);
    if (!Number.isInteger(after) || after < 0 || !Number.isInteger(limit) || limit < 1) {
      throw badRequest('after and limit must be non-negative integers', [{ field: 'after', reason: 'must be an integer ≥ 0' }]);
    }
    const events = await withViewer(db, viewer, (trx) => readAuditTrail(trx, after, limit));
    res.json({ events, next: events.length === limit ? events[events.length - 1].id : null });
  });

  return router;
}
