// Vector tiles: /tiles/{layers}/{z}/{x}/{y}.mvt, TileJSON and metadata.json.
import { Request, Response, Router } from 'express';
import { TILE_LAYERS, TILE_LAYER_BY_ID, TileLayer } from '../../tiles/layers';
import { tileJson, tippecanoeMetadata } from '../../tiles/tileJson';
import type { TileService } from '../../tiles/tileService';
import { requireViewer } from '../auth/middleware';
import type { Config } from '../config';
import { baseUrl } from '../links';
import { badRequest, notFound } from '../problem';

const MVT = 'application/vnd.mapbox-vector-tile';

function layersOf(path: string): TileLayer[] {
  const ids = path.split(',');
  const unknown = ids.filter((id) => !TILE_LAYER_BY_ID.has(id));
  if (unknown.length || ids.length === 0) {
    throw notFound(`no tile layer ${unknown.map((id) => `"${id}"`).join(', ')}; layers: ${TILE_LAYERS.map((layer) => layer.id).join(', ')}`);
  }
  if (new Set(ids).size !== ids.length) throw badRequest('a layer is named twice', [{ field: 'layers', reason: 'must not repeat a layer' }]);
  return ids.map((id) => TILE_LAYER_BY_ID.get(id)!);
}

function tileAddress(req: Request): { z: number; x: number; y: number } {
  const [z, x, y] = [req.params.z, req.params.x, req.params.y].map(Number);
  const problems = [];
  if (!Number.isInteger(z) || z < 0 || z > 22) problems.push({ field: 'z', reason: 'must be an integer from 0 to 22' });
  else {
    const n = 2 ** z;
    if (!Number.isInteger(x) || x < 0 || x >= n) problems.push({ field: 'x', reason: `must be an integer from 0 to ${n - 1} at zoom ${z}` });
    if (!Number.isInteger(y) || y < 0 || y >= n) problems.push({ field: 'y', reason: `must be an integer from 0 to ${n - 1} at zoom ${z}` });
  }
  if (problems.length) throw badRequest(`invalid tile address: ${problems.map((p) => `${p.field} ${p.reason}`).join('; ')}`, problems);
  return { z, x, y };
}

export function tileRoutes(tiles: TileService, config: Config): Router {
  const router = Router();

  router.get('/tiles/:layers.json', (req, res) => {
    const layers = layersOf(req.params.layers);
    res.json(tileJson(baseUrl(req, config), req.params.layers, layers));
  });

  router.get('/tiles/:layers/metadata.json', (req, res) => {
    res.json(tippecanoeMetadata(req.params.layers, layersOf(req.params.layers)));
  });

  const serveTile = async (req: Request, res: Response) => {
    const layers = layersOf(req.params.layers as string);
    const { z, x, y } = tileAddress(req);
    const tile = await tiles.tile(req.viewer!, layers.map((layer) => layer.id), z, x, y);
    // Private: a tile is one viewer's projection. no-cache: revalidate every time, so a write
    // shows on the next request while an unchanged tile costs a 304.
    res.set({ 'Cache-Control': 'private, no-cache', Vary: 'Authorization, Accept-Encoding', ETag: tile.etag });
    if (req.get('if-none-match') === tile.etag) {
      res.status(304).end();
      return;
    }
    if (tile.body.length === 0) {
      res.status(204).end();
      return;
    }
    const gzip = tile.gzip && req.acceptsEncodings('gzip') === 'gzip';
    const body = gzip ? tile.gzip! : tile.body;
    res.status(200).set({ 'Content-Type': MVT, 'Content-Length': String(body.length) });
    if (gzip) res.set('Content-Encoding', 'gzip');
    if (req.method === 'HEAD') res.end();
    else res.end(body);
  };
  router.get('/tiles/:layers/:z/:x/:y.mvt', requireViewer, serveTile);

  return router;
}
