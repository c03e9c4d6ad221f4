// Assembles the HTTP layer. The core (records/, db/, geo/) knows nothing of express.
import { randomUUID } from 'node:crypto';
import { IncomingMessage, Server, ServerResponse, createServer } from 'node:http';
import express, { Express } from 'express';
import type { Knex } from 'knex';
import pinoHttp from 'pino-http';
import { AgencyKeyStore } from './auth/keys';
import { identify } from './auth/middleware';
import type { Config } from './config';
import { logger } from './logger';
import { Problem, problemHandler } from './problem';
import { informantRoutes } from './routes/informants';
import { itemRoutes } from './routes/items';
import { ogcCoreRoutes } from './routes/ogcCore';
import { operationsRoutes } from './routes/operations';
import { sharingRoutes } from './routes/sharing';
import { tileRoutes } from './routes/tiles';
import { webRoutes } from './routes/web';
import { TileService } from '../tiles/tileService';
import { cachedTileHandler } from '../tiles/fastPath';
import { VerifiedTokenCache } from './auth/tokenCache';
import { FeedService } from '../feed/feedService';
import { FeedStream } from '../feed/stream';
import { listenSignal, type ChangeSignal } from '../feed/changeSignal';
import { feedRoutes } from './routes/feed';

export interface AppDependencies {
  db: Knex;
  config: Config;
  keys?: AgencyKeyStore;
  /** How the live feed hears of commits (server/start.ts): by default a LISTEN on config.databaseUrl. */
  changes?: ChangeSignal;
  /** Demo mode: the map page offers demo tokens. */
  demo?: boolean;
}

export function createApp({ db, config, keys = new AgencyKeyStore(db), demo = false, changes }: AppDependencies): Express {
  const app = express();
  if (!changes && !config.databaseUrl) throw new Error('createApp needs a database URL or a change signal for the live feed');
  const changeSignal = changes ?? listenSignal(config.databaseUrl!);
  const tiles = new TileService(db, config.tileCacheBytes);
  const feed = new FeedService(db);
  const feedStream = new FeedStream(feed, changeSignal);
  app.locals.tiles = tiles;
  app.locals.feedStream = feedStream;
  app.disable('x-powered-by');
  // Responses that want an ETag set their own (versions, tile hashes); hashing every body costs throughput.
  app.set('etag', false);
  app.set('trust proxy', true);
  app.use(pinoHttp({
    logger,
    genReqId: (req, res) => {
      const given = req.headers['x-request-id'];
      const id = typeof given === 'string' && /^[\w.-]{1,100}$/.test(given) ? given : randomUUID();
      res.setHeader('X-Request-Id', id);
      return id;
    },
    autoLogging: { ignore: (req) => req.url === '/health' },
    // A map view fetches dozens of tiles a second: successful tiles are logged at debug only.
    customLogLevel: (req, res, error) => {
      if (error || res.statusCode >= 500) return 'error';
      if (res.statusCode >= 400) return 'warn';
      return req.url?.startsWith('/tiles/') ? 'debug' : 'info';
    },
    serializers: { req: (req) => ({ id: req.id, method: req.method, url: req.url }) },
  }));
  app.use(operationsRoutes(db));
  const verifiedTokens = new VerifiedTokenCache();
  app.use(identify(keys, verifiedTokens));
  // Tiles first: the hot path should not walk every other router.
  app.use(tileRoutes(tiles, config));
  app.use(webRoutes({ ...config, demo }, { demo, dataDir: config.dataDir }));
  app.use(ogcCoreRoutes(db, config));
  app.use(itemRoutes(db, config, tiles));
  app.use(informantRoutes(db, config));
  app.use(sharingRoutes(db, config, tiles));
  app.use(feedRoutes(feed, feedStream, config));
  app.use((req, _res, next) => next(new Problem(404, 'Not found', `no route for ${req.method} ${req.path}`)));
  app.use(problemHandler);

  // Cached tiles are answered before express (tiles/fastPath.ts); `listen` builds the server
  // around that, so every caller — main, tests, benches — gets the same request path.
  const cachedTile = cachedTileHandler(tiles, verifiedTokens);
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    if (!cachedTile(req, res)) app(req, res);
  };
  app.listen = ((...args: Parameters<Server['listen']>) => createServer(handle).listen(...args)) as Express['listen'];
  return app;
}
