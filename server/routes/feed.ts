// Diffed change feeds: paged, snapshot, and live (SSE).
import { Request, Router } from 'express';
import type { FeedService } from '../../feed/feedService';
import type { FeedStream } from '../../feed/stream';
import { requireViewer } from '../auth/middleware';
import type { Config } from '../config';
import { baseUrl } from '../links';
import { badRequest } from '../problem';

function limitOf(req: Request): number {
  const raw = req.query.limit;
  if (raw === undefined) return 500;
  const limit = Number(raw);
  if (!Number.isInteger(limit) || limit < 1 || limit > 10000) throw badRequest('limit must be an integer from 1 to 10000', [{ field: 'limit', reason: 'must be 1–10000' }]);
  return limit;
}

const cursorOf = (req: Request) => (typeof req.query.after === 'string' ? req.query.after : req.get('last-event-id') || undefined);

export function feedRoutes(feed: FeedService, stream: FeedStream, config: Config): Router {
  const router = Router();
  const snapshotUrl = (req: Request) => `${baseUrl(req, config)}/feed/snapshot`;

  router.get('/feed', requireViewer, async (req, res) => {
    const page = await feed.page(req.viewer!, cursorOf(req), limitOf(req), snapshotUrl(req));
    const next = `${baseUrl(req, config)}/feed?after=${page.cursor}&limit=${limitOf(req)}`;
    res.set('Cache-Control', 'no-store').json({ ...page, links: [{ rel: 'next', href: next }] });
  });

  router.get('/feed/snapshot', requireViewer, async (req, res) => {
    const snapshot = await feed.snapshot(req.viewer!);
    res.set('Cache-Control', 'no-store').json({
      type: 'FeatureCollection',
      cursor: snapshot.cursor,
      features: snapshot.features,
      links: [{ rel: 'feed', href: `${baseUrl(req, config)}/feed?after=${snapshot.cursor}` }],
    });
  });

  router.get('/feed/stream', requireViewer, async (req, res) => {
    await stream.serve(req.viewer!, cursorOf(req), res, snapshotUrl(req));
  });

  return router;
}
