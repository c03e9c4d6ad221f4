// Cached tiles for an already verified token, answered before express: a map view asks for
// dozens of tiles a second, and the full middleware chain (request logging, routing) costs
// several times what serving a cached buffer does. Anything else — a first request, an unknown
// token, a tile not in the cache, a bad address — falls through to the express route, which
// verifies, renders, logs and explains errors.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { VerifiedTokenCache } from '../server/auth/tokenCache';
import { TILE_LAYER_BY_ID } from './layers';
import type { TileService } from './tileService';

const TILE_PATH = /^\/tiles\/([a-z,-]+)\/(\d{1,2})\/(\d{1,7})\/(\d{1,7})\.mvt$/;
const BEARER = /^Bearer\s+(\S+)$/i;
const GZIP = /\bgzip\b(?!\s*;\s*q=0(?:\.0*)?\b)/i;

export function cachedTileHandler(tiles: TileService, tokens: VerifiedTokenCache) {
  return (req: IncomingMessage, res: ServerResponse): boolean => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const address = TILE_PATH.exec(req.url ?? '');
    if (!address) return false;
    const token = BEARER.exec(req.headers.authorization ?? '')?.[1];
    const viewer = token ? tokens.get(token) : undefined;
    if (!viewer) return false;
    const [, layers, zText, xText, yText] = address;
    const z = Number(zText);
    const x = Number(xText);
    const y = Number(yText);
    if (z > 22 || x >= 2 ** z || y >= 2 ** z || !layers.split(',').every((id) => TILE_LAYER_BY_ID.has(id))) return false;
    const tile = tiles.cached(viewer, layers, z, x, y);
    if (!tile) return false;

    res.setHeader('Cache-Control', 'private, no-cache');
    res.setHeader('Vary', 'Authorization, Accept-Encoding');
    res.setHeader('ETag', tile.etag);
    if (req.headers['if-none-match'] === tile.etag) {
      res.writeHead(304).end();
    } else if (tile.body.length === 0) {
      res.writeHead(204).end();
    } else {
      const compressed = GZIP.test(req.headers['accept-encoding'] ?? '') ? tiles.gzipOf(viewer, layers, z, x, y, tile) : undefined;
      const gzip = compressed !== undefined;
      const body = compressed ?? tile.body;
      res.setHeader('Content-Type', 'application/vnd.mapbox-vector-tile');
      res.setHeader('Content-Length', body.length);
      if (gzip) res.setHeader('Content-Encoding', 'gzip');
      res.writeHead(200);
      res.end(req.method === 'HEAD' ? undefined : body);
    }
    return true;
  };
}
