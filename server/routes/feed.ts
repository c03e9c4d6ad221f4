// Diffed change feeds: paged, snapshot, and live (SSE).
import { Request, Router } from 'express';
import type { FeedService } from '../../feed/feedService';
import { drained, type FeedStream } from '../../feed/stream';
import { requireViewer } from '../auth/middleware';
import type { Config } from '../config';
import { baseUrl } from '../links';
import { badRequest } from '../problem';

class ClientGone extends Error {}

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

  // The page is written as it is read: events go out as the database produces them, and the
  // cursor and links follow them (a large page is never held whole). Errors before the first
  // byte (410 for a pruned cursor, 400) are problems as usual; one after it cuts the response,
  // which a client sees as a broken page and retries.
  router.get('/feed', requireViewer, async (req, res) => {
    const limit = limitOf(req);
    let first = true;
    let started = false;
    // Events go out in writes of about 64 KB: a write per event would cost a chunk and a pass
    // through the stream machinery each.
    let pending: string[] = [];
    let pendingLength = 0;
    const flush = () => {
      const more = pending.length === 0 || res.write(pending.join(''));
      pending = [];
      pendingLength = 0;
      return more;
    };
    try {
      const page = await feed.write(req.viewer!, cursorOf(req), limit, snapshotUrl(req), {
        begin: () => {
          started = true;
          res.status(200).set({ 'Cache-Control': 'no-store', 'Content-Type': 'application/json; charset=utf-8' });
          res.write('{"events":[');
        },
        event: (json) => {
          // A client that went away stops the reading (and frees the database) at the next event.
          if (res.destroyed) throw new ClientGone();
          pending.push(first ? json : `,${json}`);
          pendingLength += json.length + 1;
          first = false;
          if (pendingLength >= 65_536 && !flush() && !res.destroyed) return drained(res);
        },
      });
      flush();
      const next = `${baseUrl(req, config)}/feed?after=${page.cursor}&limit=${limit}`;
      res.end(`],"cursor":${JSON.stringify(page.cursor)},"caughtUp":${page.caughtUp},"links":${JSON.stringify([{ rel: 'next', href: next }])}}`);
    } catch (error) {
      if (!started) throw error;
      if (error instanceof ClientGone) return;
      req.log?.error({ err: error }, 'feed page failed after it started; response cut');
      res.destroy(error as Error);
    }
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
