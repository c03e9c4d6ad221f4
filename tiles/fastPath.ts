// Tiles for an already verified token, answered before express: a map view asks for dozens of
// tiles a second, and the full middleware chain (request logging, routing) costs several times
// what serving a cached buffer does, and a good part of what rendering a small tile does. A
// cached tile is answered at once; one not cached is rendered here (TileService.tile, the same
// render and cache as the express route). Anything else — a first request, an unknown token, a
// bad address, a render that fails — goes to the express route, which verifies, renders, logs
// and explains errors: a failed render here hands the same request to it.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { VerifiedTokenCache } from '../server/auth/tokenCache';
import type { Viewer } from '../server/auth/viewer';
import { TILE_LAYER_BY_ID } from './layers';
import type { CachedTile } from './tileCache';
import type { TileService } from './tileService';

const TILE_PATH = /^\/tiles\/([a-z,-]+)\/(\d{1,2})\/(\d{1,7})\/(\d{1,7})\.mvt$/;
const BEARER = /^Bearer\s+(\S+)$/i;
const GZIP = /\bgzip\b(?!\s*;\s*q=0(?:\.0*)?\b)/i;

export function cachedTileHandler(tiles: TileService, tokens: VerifiedTokenCache) {
  // Requests handed on to express after a failed render here.
  const toExpress = new WeakSet<IncomingMessage>();

  // A tile just rendered goes out as it is; a cached one compressed if the client takes gzip.
  const answer = (req: IncomingMessage, res: ServerResponse, viewer: Viewer, layers: string, z: number, x: number, y: number, tile: CachedTile, fresh: boolean) => {
    res.setHeader('Cache-Control', 'private, no-cache');
    res.setHeader('Vary', 'Authorization, Accept-Encoding');
    res.setHeader('ETag', tile.etag);
    if (req.headers['if-none-match'] === tile.etag) {
      res.writeHead(304).end();
    } else if (tile.body.length === 0) {
      res.writeHead(204).end();
    } else {
      const compressed = !fresh && GZIP.test(req.headers['accept-encoding'] ?? '') ? tiles.gzipOf(viewer, layers, z, x, y, tile) : undefined;
      const body = compressed ?? tile.body;
      res.setHeader('Content-Type', 'application/vnd.mapbox-vector-tile');
      res.setHeader('Content-Length', body.length);
      if (compressed) res.setHeader('Content-Encoding', 'gzip');
      res.writeHead(200);
      res.end(req.method === 'HEAD' ? undefined : body);
    }
  };

  return (req: IncomingMessage, res: ServerResponse): boolean => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    if (toExpress.has(req)) return false;
    const address = TILE_PATH.exec(req.url ?? '');
    if (!address) return false;
    const token = BEARER.exec(req.headers.authorization ?? '')?.[1];
    const viewer = token ? tokens.get(token) : undefined;
    if (!viewer) return false;
    const [, layers, zText, xText, yText] = address;
    const z = Number(zText);
    const x = Number(xText);
    const y = Number(yText);
    const ids = layers.split(',');
    if (z > 22 || x >= 2 ** z || y >= 2 ** z || !ids.every((id) => TILE_LAYER_BY_ID.has(id)) || new Set(ids).size !== ids.length) return false;
    const cached = tiles.cached(viewer, layers, z, x, y);
    if (cached) {
      answer(req, res, viewer, layers, z, x, y, cached, false);
      return true;
    }
    const server = (req.socket as { server?: { emit(event: string, ...args: unknown[]): boolean } }).server;
    if (!server) return false;
    tiles.tile(viewer, ids, z, x, y).then(
      (tile) => answer(req, res, viewer, layers, z, x, y, tile, true),
      () => {
        // The express route renders again, and answers and logs whatever goes wrong.
        toExpress.add(req);
        server.emit('request', req, res);
      },
    );
    return true;
  };
}
